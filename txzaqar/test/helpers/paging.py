"""
C{QuirkyPages}: a connection answering listing requests from a list, and
ignoring or forgetting a marker as Zaqar 23.0.1 on Redis can.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed

from txzaqar.http.connection import Response

__all__ = ["QuirkyPages"]


class QuirkyPages:
    """Serves pages the way a Redis-backed Zaqar 23.0.1 does: a marker at rank 0 (or unknown) restarts."""

    def __init__(self, names: list[str], count: int | None = None) -> None:
        self.names = names
        self.count = count
        self.calls: list[dict[str, Any]] = []

    def get(self, path: str, params: dict[str, Any], operation: str | None = None) -> Deferred[Response]:
        self.calls.append(params)
        limit, marker = params["limit"], params.get("marker")
        rank = self.names.index(marker) if marker in self.names else None
        start = rank + 1 if rank else 0  # the server's bug: rank 0 restarts
        page = self.names[start:start + limit]
        links = [{"rel": "next", "href": f"/v2/queues?marker={page[-1]}&limit={limit}"}] if page else []
        body: dict[str, Any] = {"queues": [{"name": n} for n in page], "links": links}
        if self.count:
            body["count"] = self.count
        return succeed(Response(200, {}, b"", body))
