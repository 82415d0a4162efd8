"""
What lets others reach a queue: its pre-signed URLs (L{QueueSharing.share})
and its notification subscriptions; the base class of
L{txzaqar.api.queue.Queue}.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred

from .._support import validation as v
from ..errors import ClientValidationError, MalformedResponse
from ..interfaces import IConnection, IQueue
from . import _paging, _paths
from .subscription import DEFAULT_SUBSCRIPTION_TTL, Subscription, check_options, check_subscriber, check_ttl
from .values import SHARE_METHODS, SHARE_PATHS, SignedURL


class QueueSharing:
    """
    The pre-signed URLs and subscriptions of a L{txzaqar.api.queue.Queue}
    (a base class of it, holding no state of its own).
    """

    __slots__ = ()

    #: The connection requests go through (the L{Queue}'s).
    connection: IConnection
    #: The queue's name.
    name: str

    def _queue(self) -> IQueue:
        """This queue as an L{IQueue}: what the values it makes refer back to."""
        raise NotImplementedError("the Queue this is a base of says")

    def share(
        self,
        paths: Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
        expires: datetime.datetime | str | None = None,
    ) -> Deferred[SignedURL]:
        body: dict[str, Any] = {}
        if paths is not None:
            if isinstance(paths, str) or not paths or any(p not in SHARE_PATHS for p in paths):
                raise ClientValidationError("paths", f"must be a non-empty subset of {SHARE_PATHS}")
            body["paths"] = list(paths)
        if methods is not None:
            if isinstance(methods, str) or not methods or any(m not in SHARE_METHODS for m in methods):
                raise ClientValidationError("methods", f"must be a non-empty list of {SHARE_METHODS}")
            body["methods"] = list(methods)
        if expires is not None:
            if isinstance(expires, datetime.datetime):
                if expires.tzinfo is None or expires.utcoffset() is None:
                    raise ClientValidationError(
                        "expires", "is a naive datetime: give one with a time zone, e.g. "
                        "datetime.now(timezone.utc) + timedelta(hours=1)"
                    )
                expires = expires.astimezone(datetime.UTC).replace(tzinfo=None)
                expires = expires.isoformat(timespec="seconds")
            if not isinstance(expires, str):
                raise ClientValidationError("expires", "must be a datetime or an ISO string")
            body["expires"] = expires

        async def share() -> SignedURL:
            route = _paths.queue_part(self.name, "share")
            response = await self.connection.post(route.path, operation=route.operation, body=body, idempotent=True)
            data = response.json or {}
            try:
                return SignedURL(
                    paths=tuple(data["paths"]), methods=tuple(data["methods"]),
                    project=data["project"], expires=data["expires"], signature=data["signature"],
                )
            except (KeyError, TypeError):
                raise MalformedResponse("Malformed signed URL", f"keys: {sorted(data)}") from None

        return Deferred.fromCoroutine(share())

    # -- subscriptions ------------------------------------------------

    def subscribe(
        self,
        subscriber: str,
        ttl: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Deferred[Subscription]:
        body: dict[str, Any] = {
            "subscriber": check_subscriber(subscriber),
            "ttl": check_ttl(DEFAULT_SUBSCRIPTION_TTL if ttl is None else ttl),
            "options": check_options(dict(options) if isinstance(options, Mapping) else options if options is not None else {}),
        }

        async def subscribe() -> Subscription:
            route = _paths.subscriptions(self.name)
            response = await self.connection.post(route.path, operation=route.operation, body=body)
            sid = (response.json or {}).get("subscription_id")
            if not sid:
                raise MalformedResponse("Malformed subscription response", f"{response.json!r:.200}")
            return await self.subscription(sid)

        return Deferred.fromCoroutine(subscribe())

    def subscriptions(self, limit: int = 10, max_items: int | None = None,
                      marker: str | None = None) -> Deferred[list[Subscription]]:
        return Deferred.fromCoroutine(_paging.all_items(self.iter_subscriptions(limit, max_items, marker)))

    def iter_subscriptions(self, limit: int = 10, max_items: int | None = None,
                           marker: str | None = None) -> _paging.Listing[Subscription]:
        """Here the listing is a L{txzaqar.api._paging.Listing} of L{Subscription}."""
        v.page_limit(limit)
        v.optional_integer("max_items", max_items, 1, v.MAX_INT64)

        def subscription(item: dict[str, Any]) -> Subscription:
            return Subscription.from_json(self._queue(), item)

        route = _paths.subscriptions(self.name)
        return _paging.Listing(self.connection, route.path, "subscriptions", "id", limit, subscription,
                               max_items=max_items, marker=v.marker("marker", marker), operation=route.operation)

    def subscription(self, subscription_id: str) -> Deferred[Subscription]:
        v.id_segment("subscription_id", subscription_id)

        async def get() -> Subscription:
            route = _paths.subscription(self.name, subscription_id)
            response = await self.connection.get(route.path, operation=route.operation)
            return Subscription.from_json(self._queue(), response.json or {})

        return Deferred.fromCoroutine(get())
