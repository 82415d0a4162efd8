"""
Listing a collection a page at a time without ever looping.

The server's C{next} links are followed, but a Redis-backed Zaqar 23.0.1
restarts a listing when the marker is the first item or no longer exists
(quirk 1 of L{txzaqar.testing.quirks}).  So: the first page asks for at least two
items (the marker is then never at rank 0), items already seen are
skipped, and listing stops on a short page, a repeated marker or a page
that brings nothing new.

"Already seen" is kept bounded, so that a listing of any length walks in
constant memory: the ids of the first page (a restart goes back there),
of the previous page (an overlap), and the marker the listing started
from (a caller's marker at rank 0 restarts at that very item).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from zope.interface import implementer

from ..interfaces import IConnection, IListing

T = TypeVar("T")


def _next_marker(body: Mapping[str, Any]) -> str | None:
    for link in body.get("links") or ():
        if isinstance(link, dict) and link.get("rel") == "next":
            values = parse_qs(urlsplit(str(link.get("href", ""))).query).get("marker")
            if values:
                return values[-1]
    return None


def _identity(item: dict[str, Any]) -> Any:
    return item


@implementer(IListing)
class Listing(Generic[T]):
    """
    An async iterator over a collection (C{async for item in listing}),
    fetching the next page only when the caller asks past the current one.
    Stopping (C{break}, or L{aclose}) fetches nothing more.  Not for
    concurrent use by several consumers.

    @ivar marker: where to resume: the id of the last item handed out (or
        the marker the listing started from).  Give it as C{marker=} to a
        new listing to continue after that item.
    @ivar count: with C{with_count}, the server's count once the first page
        was fetched (C{0} when the server left it out, as it does for 0);
        else C{None}.
    @ivar pages: how many pages were fetched so far.
    """

    def __init__(
        self,
        connection: IConnection,
        path: str,
        key: str,
        id_field: str,
        limit: int,
        convert: Callable[[dict[str, Any]], T] = _identity,
        params: Mapping[str, Any] | None = None,
        max_items: int | None = None,
        marker: str | None = None,
        with_count: bool = False,
        operation: str | None = None,
    ) -> None:
        self._connection = connection
        self._path = path
        self._operation = operation
        self._key = key
        self._id_field = id_field
        self._limit = limit
        self._convert = convert
        self._params = dict(params or {})
        if with_count:
            self._params["with_count"] = True
        self._with_count = with_count
        self._max_items = max_items
        self._start_marker = marker
        self._next: str | None = marker
        self.marker = marker
        self.count: int | None = None
        self.pages = 0
        self._handed_out = 0
        self._buffer: deque[dict[str, Any]] = deque()
        self._first_ids: set[Any] = set()
        self._previous_ids: set[Any] = set()
        self._exhausted = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<Listing {self._path} marker={self.marker!r} pages={self.pages}>"

    def __aiter__(self) -> Listing[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed or (self._max_items is not None and self._handed_out >= self._max_items):
            raise StopAsyncIteration
        while not self._buffer:
            if self._exhausted:
                raise StopAsyncIteration
            await self._fetch()
            if self._closed:
                raise StopAsyncIteration
        item = self._buffer.popleft()
        self._handed_out += 1
        ident = item.get(self._id_field)
        if ident is not None:
            self.marker = str(ident)
        return self._convert(item)

    async def aclose(self) -> None:
        self._closed = True
        self._buffer.clear()

    async def _fetch(self) -> None:
        first = self.pages == 0
        page_size = max(self._limit, 2) if first else self._limit  # a page of 1 would put the next marker at rank 0
        response = await self._connection.get(
            self._path, params={**self._params, "limit": page_size, "marker": self._next},
            operation=self._operation,
        )
        self.pages += 1
        body = response.json if isinstance(response.json, dict) else {}
        if first and self._with_count:
            count = body.get("count", 0)
            self.count = count if isinstance(count, int) else 0
        page = [item for item in body.get(self._key) or () if isinstance(item, dict)]
        skip = self._previous_ids | ({self._start_marker} if self._start_marker is not None else set())
        if not first:
            skip |= self._first_ids
        ids: set[Any] = set()
        for item in page:
            ident = item.get(self._id_field)
            if ident in skip or ident in ids:
                continue
            ids.add(ident)
            self._buffer.append(item)
        if first:
            self._first_ids = set(ids)
        self._previous_ids = ids
        if len(page) < page_size or not ids:
            self._exhausted = True
            return
        next_marker = _next_marker(body) or page[-1].get(self._id_field)
        if next_marker is None or next_marker == self._next or (not first and next_marker in self._first_ids):
            self._exhausted = True
            return
        self._next = str(next_marker)


async def collect(
    connection: IConnection,
    path: str,
    key: str,
    id_field: str,
    limit: int,
    params: Mapping[str, Any] | None = None,
    max_items: int | None = None,
    marker: str | None = None,
    operation: str | None = None,
) -> list[dict[str, Any]]:
    """
    Fetch pages of C{path} until the collection is exhausted.

    @param operation: what kind of request each page's is (see L{IConnection.request}).
    @param key: the list's key in the body (C{"queues"}, C{"messages"}, ...).
    @param id_field: the field identifying an item (C{"name"} or C{"id"}).
    @param limit: page size asked by the caller.
    @return: the items, in server order, each at most once.
    """
    listing: Listing[dict[str, Any]] = Listing(
        connection, path, key, id_field, limit, params=params, max_items=max_items, marker=marker,
        operation=operation,
    )
    return [item async for item in listing]


async def all_items(listing: Listing[Any]) -> list[Any]:
    """Every item of C{listing}, fetched page by page."""
    return [item async for item in listing]
