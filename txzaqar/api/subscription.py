"""
L{Subscription}: a notification subscription on a queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attr
from twisted.internet.defer import Deferred
from zope.interface import implementer

from .._support import validation as v
from ..errors import ClientValidationError
from ..interfaces import IQueue, ISubscription
from . import _paths

#: The URI schemes Zaqar accepts for a subscriber.
SUBSCRIBER_SCHEMES = ("http", "https", "mailto", "trust+http", "trust+https")
#: Seconds a subscription lasts when not given.
DEFAULT_SUBSCRIPTION_TTL = 3600


def check_subscriber(subscriber: object) -> str:
    """
    Check a subscriber URI: an C{http(s)://} or C{trust+http(s)://} URL
    with a host, or a C{mailto:} with an address.

    @return: C{subscriber}, unchanged.
    @raise ClientValidationError: not a URI with a scheme in
        L{SUBSCRIBER_SCHEMES}, or with nothing to deliver to.
    """
    if not isinstance(subscriber, str) or not subscriber:
        raise ClientValidationError("subscriber", "must be a non-empty URI string")
    try:
        parts = urlsplit(subscriber)
        parts.port  # noqa: B018 (a bad port raises ValueError)
    except ValueError as e:
        raise ClientValidationError("subscriber", f"{subscriber!r:.80} is not a URI: {e}") from None
    scheme = parts.scheme
    if scheme not in SUBSCRIBER_SCHEMES:
        raise ClientValidationError(
            "subscriber", f"scheme {scheme!r} is not one of {', '.join(SUBSCRIBER_SCHEMES)}"
        )
    if scheme == "mailto":
        if not parts.path.strip():
            raise ClientValidationError("subscriber", f"{subscriber!r:.80} has no address")
    elif not parts.hostname:
        raise ClientValidationError("subscriber", f"{subscriber!r:.80} has no host")
    v.json_bytes("subscriber", subscriber)
    return subscriber


def check_ttl(ttl: object) -> int:
    """
    Check a subscription's ttl.

    @return: the ttl.
    @raise ClientValidationError: not an integer Zaqar accepts.
    """
    return v.integer("subscription ttl", ttl, v.MIN_SUBSCRIPTION_TTL, 10**9)


def check_options(options: object) -> dict[str, Any]:
    """
    Check a subscription's options.

    @return: C{options}, unchanged.
    @raise ClientValidationError: not a C{dict} that is JSON (see
        L{txzaqar._support.validation.json_bytes}).
    """
    if not isinstance(options, dict):
        raise ClientValidationError("options", f"must be a dict, not {type(options).__name__}")
    v.json_bytes("options", options)
    return options


@implementer(ISubscription)
@attr.s(frozen=True, slots=True, auto_attribs=True)
class Subscription:
    """A subscription as last seen (see L{ISubscription}): where a queue's messages are pushed."""

    #: The L{IQueue} the subscription is on.
    queue: IQueue = attr.ib(eq=False, repr=False)
    id: str
    subscriber: str | None = None
    ttl: int | None = None
    #: Seconds since it was made, or C{None} when not read from the server.
    age: int | None = None
    options: Mapping[str, Any] = attr.Factory(dict)
    #: Whether the subscription is confirmed (see L{confirm}), or C{None} when not known.
    confirmed: bool | None = None

    @classmethod
    def from_json(cls, queue: IQueue, data: Mapping[str, Any]) -> "Subscription":
        """
        Read a subscription document as Zaqar answers it.

        @param queue: the L{IQueue} it is on.
        @param data: the document.
        @return: the subscription.
        """
        return cls(
            queue=queue,
            id=str(data.get("id")),
            subscriber=data.get("subscriber"),
            ttl=data.get("ttl"),
            age=data.get("age"),
            options=data.get("options") or {},
            confirmed=data.get("confirmed"),
        )

    def update(
        self,
        subscriber: str | None = None,
        ttl: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Deferred["Subscription"]:
        body: dict[str, Any] = {}
        if subscriber is not None:
            body["subscriber"] = check_subscriber(subscriber)
        if ttl is not None:
            body["ttl"] = check_ttl(ttl)
        if options is not None:
            body["options"] = check_options(dict(options) if isinstance(options, Mapping) else options)
        if not body:
            raise ClientValidationError("update", "give at least one of subscriber, ttl, options")

        async def update() -> "Subscription":
            route = _paths.subscription(self.queue.name, self.id)
            await self.queue.connection.patch(route.path, operation=route.operation, body=body, idempotent=True)
            return attr.evolve(self, age=0, **body)

        return Deferred.fromCoroutine(update())

    def confirm(self, confirmed: bool = True) -> Deferred[None]:
        if not isinstance(confirmed, bool):
            raise ClientValidationError("confirmed", "must be True or False")

        async def confirm() -> None:
            route = _paths.confirm(self.queue.name, self.id)
            await self.queue.connection.put(route.path, operation=route.operation, body={"confirmed": confirmed})

        return Deferred.fromCoroutine(confirm())

    def delete(self) -> Deferred[None]:

        async def delete() -> None:
            route = _paths.subscription(self.queue.name, self.id)
            await self.queue.connection.delete(route.path, operation=route.operation)

        return Deferred.fromCoroutine(delete())

    def reload(self) -> Deferred["Subscription"]:
        return self.queue.subscription(self.id)
