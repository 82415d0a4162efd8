"""
L{Claim}: messages claimed together under one id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attr
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from .._support import validation as v
from ..interfaces import IClaim
from . import _encrypted, _paths
from .message import Message

if TYPE_CHECKING:
    from .queue import Queue

#: Seconds a claim lasts unless renewed, when not given (Zaqar's own default).
DEFAULT_CLAIM_TTL = 300
#: Seconds added to claimed messages' lifetime beyond the claim's, when not given (Zaqar's own default).
DEFAULT_CLAIM_GRACE = 60


@implementer(IClaim)
@attr.s(frozen=True, slots=True, auto_attribs=True, repr=False)
class Claim:
    """
    A claim as last seen.  An empty claim (nothing was claimable) has no
    id and no messages; renewing or releasing it does nothing.
    """

    #: The L{Queue} the claim is on.
    queue: "Queue" = attr.ib(eq=False)
    id: str | None
    ttl: int = DEFAULT_CLAIM_TTL
    #: The grace, or C{None} when not known (the server does not show it:
    #: a claim from L{txzaqar.api.queue.Queue.get_claim} has none).
    grace: int | None = DEFAULT_CLAIM_GRACE
    age: int = 0
    messages: tuple[Message, ...] = ()

    def __repr__(self) -> str:
        return f"<Claim {self.id} size:{len(self.messages)} ttl:{self.ttl}>"

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __bool__(self) -> bool:
        return self.id is not None

    @property
    def href(self) -> str | None:
        return _paths.claim_href(self.queue.name, self.id) if self.id else None

    def patch(self, ttl: int | None = None, grace: int | None = None) -> Deferred["Claim"]:
        ttl = self.ttl if ttl is None else v.integer("claim ttl", ttl, *v.CLAIM_TTL)
        grace = self.grace if grace is None else v.integer("claim grace", grace, *v.CLAIM_GRACE)
        if self.id is None:
            return succeed(self)
        body = {"ttl": ttl} if grace is None else {"ttl": ttl, "grace": grace}

        async def renew() -> "Claim":
            route = _paths.claim(self.queue.name, str(self.id))
            await self.queue.connection.patch(route.path, operation=route.operation, body=body, idempotent=True)
            return attr.evolve(self, ttl=ttl, grace=DEFAULT_CLAIM_GRACE if grace is None else grace, age=0)

        return Deferred.fromCoroutine(renew())

    #: Another name of L{patch} (not part of L{IClaim}).
    renew = patch

    def release(self) -> Deferred[None]:
        if self.id is None:
            return succeed(None)

        async def release() -> None:
            route = _paths.claim(self.queue.name, str(self.id))
            await self.queue.connection.delete(route.path, operation=route.operation)

        return Deferred.fromCoroutine(release())

    #: Another name of L{release} (not part of L{IClaim}).
    delete = release

    def reload(self) -> Deferred["Claim"]:
        """On an encrypted queue the messages are read back by id."""
        if self.id is None:
            return succeed(self)

        async def reload() -> "Claim":
            route = _paths.claim(self.queue.name, str(self.id))
            response = await self.queue.connection.get(route.path, operation=route.operation)
            body: dict[str, Any] = response.json or {}
            fresh = attr.evolve(
                self,
                ttl=body.get("ttl", self.ttl),
                age=body.get("age", 0),
                messages=tuple(Message.from_json(self.queue, m) for m in body.get("messages") or ()),
            )
            return await _encrypted.claim_plaintext(self.queue, fresh, release=False)

        return Deferred.fromCoroutine(reload())
