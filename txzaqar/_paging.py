"""
Listing every page of a collection without ever looping.

The server's C{next} links are followed, but a Redis-backed Zaqar 23.0.1
restarts a listing when the marker is the first item or no longer exists
(zaqar-v2-api.md section 8.1).  So: the first page asks for at least two
items (the marker is then never at rank 0), items already seen are
skipped, and listing stops on a short page, a repeated marker or a page
that brings nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .interfaces import IConnection


def _next_marker(body: Mapping[str, Any]) -> str | None:
    for link in body.get("links") or ():
        if isinstance(link, dict) and link.get("rel") == "next":
            values = parse_qs(urlsplit(str(link.get("href", ""))).query).get("marker")
            if values:
                return values[-1]
    return None


async def collect(
    connection: IConnection,
    path: str,
    key: str,
    id_field: str,
    limit: int,
    params: Mapping[str, Any] | None = None,
    max_items: int | None = None,
    marker: str | None = None,
) -> list[dict[str, Any]]:
    """
    Fetch pages of C{path} until the collection is exhausted.

    @param key: the list's key in the body (C{"queues"}, C{"messages"}, ...).
    @param id_field: the field identifying an item (C{"name"} or C{"id"}).
    @param limit: page size asked by the caller.
    @return: the items, in server order, each at most once.
    """
    items: list[dict[str, Any]] = []
    seen: set[Any] = set()
    markers: set[str | None] = {marker}
    page_size = max(limit, 2)  # a page of 1 would put the next marker at rank 0
    while True:
        response = await connection.get(
            path, params={**(params or {}), "limit": page_size, "marker": marker}
        )
        body = response.json if isinstance(response.json, dict) else {}
        page = [item for item in body.get(key) or () if isinstance(item, dict)]
        fresh = [item for item in page if item.get(id_field) not in seen]
        for item in fresh:
            seen.add(item.get(id_field))
            items.append(item)
            if max_items is not None and len(items) >= max_items:
                return items
        if len(page) < page_size or not fresh:
            return items
        next_marker = _next_marker(body) or page[-1].get(id_field)
        if next_marker is None or next_marker in markers:
            return items
        markers.add(next_marker)
        marker = next_marker
        page_size = limit
