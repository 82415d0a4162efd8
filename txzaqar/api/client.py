"""
L{Client}: account-wide operations (queues, health, home document, pools,
flavors).  L{txzaqar.connect} builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from zope.interface import implementer

from .._support import validation as v
from ..errors import ClientValidationError, MalformedResponse
from ..interfaces import IClient, IConnection
from . import _paging, _paths
from .admin import Flavor, Pool, check_name
from .queue import Queue

#: The most C{max_queues_per_page} may be raised to.
MAX_QUEUES_PER_PAGE = 1000

#: A result type.
T = TypeVar("T")


@implementer(IClient)
class Client:
    """
    The entry point: hands out L{Queue}s and does project-wide calls.

    @param connection: an L{IConnection} (see L{txzaqar.connect}).
    @param subscriber_factory: what L{subscriber} calls, with this client
        and its keyword arguments; L{txzaqar.connect} passes
        L{txzaqar.subscriber.Subscriber}.  Resources sit below the
        Subscriber, so they are given it rather than importing it.
    """

    def __init__(self, connection: IConnection,
                 subscriber_factory: Callable[..., Any] | None = None) -> None:
        self.connection = connection
        self._max_queues_per_page = v.MAX_PAGE
        #: What L{subscriber} calls (with this client and its keyword arguments), or C{None} when it cannot.
        self.subscriber_factory = subscriber_factory

    def __repr__(self) -> str:
        return f"<Client {self.connection!r}>"

    @property
    def max_queues_per_page(self) -> int:
        return self._max_queues_per_page

    @max_queues_per_page.setter
    def max_queues_per_page(self, value: int) -> None:
        """@raise ClientValidationError: not an C{int} from 1 to L{MAX_QUEUES_PER_PAGE}."""
        self._max_queues_per_page = v.integer("max_queues_per_page", value, 1, MAX_QUEUES_PER_PAGE)

    def queue(self, name: str, max_post_size: int | None = None) -> Queue:
        if max_post_size is None:
            return Queue(self.connection, name)
        return Queue(self.connection, name, max_post_size)

    def create_queue(self, name: str, metadata: Mapping[str, Any] | None = None) -> Deferred[Queue]:
        queue = self.queue(name)
        return queue.create(metadata).addCallback(lambda _: queue)

    def queues(self, limit: int = 10, detailed: bool = False, max_items: int | None = None,
               marker: str | None = None, name: str | None = None,
               filters: Mapping[str, Any] | None = None) -> Deferred[list[Queue]]:
        """With C{detailed}, each L{Queue}'s C{max_post_size} is the queue's C{_max_messages_post_size}."""
        listing = self.iter_queues(limit=limit, detailed=detailed, max_items=max_items,
                                   marker=marker, name=name, filters=filters)
        return Deferred.fromCoroutine(_all(listing))

    def iter_queues(self, limit: int = 10, detailed: bool = False, max_items: int | None = None,
                    marker: str | None = None, name: str | None = None,
                    filters: Mapping[str, Any] | None = None,
                    with_count: bool = False) -> _paging.Listing[Queue]:
        """Here the listing is a L{txzaqar.api._paging.Listing} of L{Queue}."""
        def queue(item: dict[str, Any]) -> Queue:
            return listed_queue(self.connection, item)

        return self._queue_listing(queue, limit, detailed, max_items, marker, name, filters, with_count)

    def _queue_listing(self, convert: Callable[[dict[str, Any]], T], limit: int, detailed: bool,
                       max_items: int | None, marker: str | None, name: str | None,
                       filters: Mapping[str, Any] | None, with_count: bool = False) -> _paging.Listing[T]:
        v.integer("limit", limit, 1, self._max_queues_per_page)
        v.boolean("detailed", detailed)
        v.optional_integer("max_items", max_items, 1, v.MAX_INT64)
        if marker is not None:
            v.queue_name(v.marker("marker", marker))
        params: dict[str, Any] = {"detailed": detailed, **v.queue_filters(name, filters)}
        return _paging.Listing(self.connection, _paths.QUEUES.path, "queues", "name", limit, convert, params=params,
                               max_items=max_items, marker=marker, with_count=with_count,
                               operation=_paths.QUEUES.operation)

    def queue_details(self, limit: int = 10, detailed: bool = True, max_items: int | None = None,
                      marker: str | None = None, name: str | None = None,
                      filters: Mapping[str, Any] | None = None) -> Deferred[list[dict[str, Any]]]:
        """@return: a Deferred firing with the queue documents (C{name}, C{href}, C{metadata})."""
        listing = self._queue_listing(dict, limit, detailed, max_items, marker, name, filters)
        return Deferred.fromCoroutine(_all(listing))

    def queue_count(self) -> Deferred[int]:
        """One request: C{GET /v2/queues?with_count=true}."""

        async def count() -> int:
            response = await self.connection.get(_paths.QUEUES.path, params={"limit": 1, "with_count": True},
                                                operation=_paths.QUEUES.operation)
            body = response.json if isinstance(response.json, dict) else {}
            value = body.get("count", 0)  # the server leaves out a count of 0
            return value if isinstance(value, int) else 0

        return Deferred.fromCoroutine(count())

    def home(self) -> Deferred[dict[str, Any]]:

        async def home() -> dict[str, Any]:
            return dict((await self.connection.get(_paths.HOME.path, operation=_paths.HOME.operation)).json or {})

        return Deferred.fromCoroutine(home())

    def versions(self) -> Deferred[list[dict[str, Any]]]:

        async def versions() -> list[dict[str, Any]]:
            response = await self.connection.get(_paths.ROOT.path, ok=(300,), operation=_paths.ROOT.operation)
            return list((response.json or {}).get("versions") or [])

        return Deferred.fromCoroutine(versions())

    def ping(self, head: bool = False) -> Deferred[bool]:

        v.boolean("head", head)

        async def ping() -> bool:
            send = self.connection.head if head else self.connection.get
            await send(_paths.PING.path, operation=_paths.PING.operation)
            return True

        return Deferred.fromCoroutine(ping())

    def health(self) -> Deferred[dict[str, Any]]:

        async def health() -> dict[str, Any]:
            return dict((await self.connection.get(_paths.HEALTH.path, operation=_paths.HEALTH.operation)).json or {})

        return Deferred.fromCoroutine(health())

    def pool(self, name: str) -> Pool:
        return Pool(self.connection, check_name("pool name", name))

    def create_pool(self, name: str, uri: str, weight: int, flavor: str | None = None,
                    options: Mapping[str, Any] | None = None) -> Deferred[Pool]:
        return self.pool(name).create(uri, weight, flavor, options)

    def pools(self, limit: int = 10, detailed: bool = False) -> Deferred[list[dict[str, Any]]]:
        v.page_limit(limit)
        v.boolean("detailed", detailed)
        return Deferred.fromCoroutine(
            _paging.collect(self.connection, _paths.POOLS.path, "pools", "name", limit, params={"detailed": detailed},
                            operation=_paths.POOLS.operation)
        )

    def flavor(self, name: str) -> Flavor:
        return Flavor(self.connection, check_name("flavor name", name))

    def create_flavor(self, name: str, pool_list: list[str],
                      capabilities: Mapping[str, Any] | None = None) -> Deferred[Flavor]:
        return self.flavor(name).create(pool_list, capabilities)

    def flavors(self, limit: int = 10, detailed: bool = False) -> Deferred[list[dict[str, Any]]]:
        v.page_limit(limit)
        v.boolean("detailed", detailed)
        return Deferred.fromCoroutine(
            _paging.collect(self.connection, _paths.FLAVORS.path, "flavors", "name", limit,
                            params={"detailed": detailed}, operation=_paths.FLAVORS.operation)
        )

    def subscriber(self, **kwargs: Any) -> Any:
        """
        Made by the C{subscriber_factory} this client was built with.

        @raise TypeError: this client was built without one; use
            C{Subscriber(client, ...)}.
        """
        if self.subscriber_factory is None:
            raise TypeError(
                "this Client has no subscriber_factory (build it with txzaqar.connect, "
                "or use txzaqar.subscriber.Subscriber(client, ...))"
            )
        return self.subscriber_factory(self, **kwargs)

    def close(self) -> Deferred[None]:
        return self.connection.close()


def listed_queue(connection: IConnection, item: Mapping[str, Any]) -> Queue:
    """
    A L{Queue} from an item of a queue listing: with the metadata of a
    detailed listing (and the post size limit it sets), if shown.

    @raise MalformedResponse: the item has no valid queue name.
    """
    try:
        name = v.queue_name(item["name"])
    except (KeyError, TypeError, ClientValidationError):
        raise MalformedResponse("Malformed queue listing", f"item {item!r:.200}") from None
    metadata = item.get("metadata")
    if not isinstance(metadata, Mapping):
        return Queue(connection, name)
    size = metadata.get("_max_messages_post_size")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= v.MAX_POST_SIZE:
        size = v.MAX_POST_SIZE
    return Queue(connection, name, size, listed_metadata=dict(metadata))


async def _all(listing: Any) -> list[Any]:
    return [item async for item in listing]
