"""
L{Message}: a frozen snapshot of one message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attr
from twisted.internet.defer import Deferred
from zope.interface import implementer

from ..errors import MalformedResponse
from ..interfaces import IMessage, IQueue
from . import _paths


class MessageStatus(enum.Enum):
    """Whether a message is held by a claim, or already gone."""

    #: Not claimed: any consumer may claim it.
    FREE = 1
    #: Claimed by a consumer until its claim expires.
    CLAIMED = 2
    #: Removed from the queue as it was read (by L{txzaqar.api.queue.Queue.pop}):
    #: this snapshot is all that is left of it.
    DELETED = 3


def _claim_id_from_href(href: str | None) -> str | None:
    if not href:
        return None
    values = parse_qs(urlsplit(href).query).get("claim_id")
    return values[-1] if values else None


@implementer(IMessage)
@attr.s(frozen=True, slots=True, auto_attribs=True, repr=False)
class Message:
    """
    One message as the server last showed it.  Unknown fields the server
    may add later are ignored, never an error.
    """

    #: The L{IQueue} the message is in.
    queue: IQueue = attr.ib(eq=False)
    id: str
    body: Any = attr.ib(hash=False)  # a dict or list body is not hashable
    ttl: int | None = None
    age: int | None = None
    href: str | None = None
    claim_id: str | None = None
    claim_count: int | None = None
    checksum: str | None = None
    #: Whether the message was removed from the queue as it was read (popped).
    deleted: bool = False

    @classmethod
    def from_json(cls, queue: IQueue, data: Mapping[str, Any], popped: bool = False) -> "Message":
        """
        Build a message from a server document.

        @param popped: the document is of a popped message (gone from the
            queue: its L{status} is C{DELETED}).
        @raise MalformedResponse: no C{id} could be found.
        """
        href = data.get("href")
        message_id = data.get("id")
        if not message_id and href:
            message_id = urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1]
        if not isinstance(message_id, str) or not message_id:
            raise MalformedResponse("Malformed message", f"no id in {dict(data)!r:.200}")
        claim_id = data.get("claim_id") or _claim_id_from_href(href)
        return cls(
            queue=queue,
            id=message_id,
            body=data.get("body"),
            ttl=data.get("ttl"),
            age=data.get("age"),
            href=href or _paths.message_href(queue.name, message_id),
            claim_id=claim_id,
            claim_count=data.get("claim_count"),
            checksum=data.get("checksum"),
            deleted=popped,
        )

    def __repr__(self) -> str:
        return f"<Message {self.id} queue={self.queue.name} ttl:{self.ttl} {self.status.name}>"

    @property
    def status(self) -> MessageStatus:
        """
        C{DELETED} for a popped message (its C{claim_id} is the one pop
        used inside the server, now gone), else C{CLAIMED} when the
        snapshot has a claim id, else C{FREE}.
        """
        if self.deleted:
            return MessageStatus.DELETED
        return MessageStatus.CLAIMED if self.claim_id else MessageStatus.FREE

    def delete(self) -> Deferred[None]:
        return self.queue.delete_message(self.id, claim_id=self.claim_id)

    def reload(self) -> Deferred["Message"]:
        return self.queue.message(self.id)

