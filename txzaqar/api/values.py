"""
The values a L{txzaqar.api.queue.Queue} hands out and the checks behind its
calls: L{Metadata}, L{QueueStats}, L{SignedURL}, L{PartialPostError}, the
reserved metadata keys, message documents and L{split_post}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attr
from twisted.internet.defer import Deferred
from zope.interface import implementer

from .._support import validation as v
from ..auth.signed_url import SignedURL as SignedURL  # its home is with SignedURLAuth (auth sits below api)
from ..errors import ClientValidationError, MalformedResponse, ZaqarError
from ..interfaces import IMetadata

if TYPE_CHECKING:
    from .queue import Queue

#: Reserved metadata: keyword of L{Queue.configure} -> (key, check).
RESERVED = {
    "max_messages_post_size": ("_max_messages_post_size", (1, v.MAX_POST_SIZE)),
    "default_message_ttl": ("_default_message_ttl", v.MESSAGE_TTL),
    "default_message_delay": ("_default_message_delay", v.MESSAGE_DELAY),
    "dead_letter_queue": ("_dead_letter_queue", "queue"),
    "dead_letter_queue_messages_ttl": ("_dead_letter_queue_messages_ttl", v.MESSAGE_TTL),
    "max_claim_count": ("_max_claim_count", (1, v.MAX_INT64)),
    "enable_encrypt_messages": ("_enable_encrypt_messages", "bool"),
    "flavor": ("_flavor", "str"),
}

#: The resources a signed URL may name (L{Queue.share}'s C{paths}).
SHARE_PATHS = ("messages", "subscriptions", "claims")
#: The methods a signed URL may allow (L{Queue.share}'s C{methods}).
SHARE_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH")
#: What L{Queue.purge} may empty (its C{resource_types}).
RESOURCE_TYPES = ("messages", "subscriptions")


class PartialPostError(ZaqarError):
    """
    A post split into several requests failed part-way.  Nothing is lost:
    C{posted_ids} were stored, C{unposted} (the message dicts) were not.
    """

    def __init__(self, cause: ZaqarError, posted_ids: list[str], unposted: list[dict[str, Any]]):
        super().__init__(
            title="Post partly failed",
            description=f"{len(posted_ids)} stored, {len(unposted)} not sent: {cause}",
            code=cause.code,
            request_id=cause.request_id,
        )
        #: The error that stopped the post.
        self.cause = cause
        #: The ids of the messages that were stored.
        self.posted_ids = posted_ids
        #: The message C{dict}s that were not sent (post them again).
        self.unposted = unposted


@implementer(IMetadata)
@attr.s(frozen=True, slots=True, auto_attribs=True)
class Metadata:
    """
    A queue's metadata as last read, with the reserved keys (and the
    server's defaults for the absent ones) available as properties.
    """

    #: The L{Queue} the metadata belongs to.
    queue: "Queue" = attr.ib(eq=False, repr=False)
    content: Mapping[str, Any]

    def reload(self) -> Deferred["Metadata"]:
        return self.queue.metadata()

    def update(self, changes: Mapping[str, Any]) -> Deferred["Metadata"]:
        return self.queue.update_metadata(changes)

    def _get(self, name: str) -> Any:
        return self.content.get(RESERVED[name][0])

    @property
    def default_message_ttl(self) -> Any:
        """C{_default_message_ttl}: seconds a message lives when posted without a ttl."""
        return self._get("default_message_ttl")

    @property
    def default_message_delay(self) -> Any:
        """C{_default_message_delay}: seconds a message stays hidden when posted without a delay."""
        return self._get("default_message_delay")

    @property
    def max_messages_post_size(self) -> Any:
        """C{_max_messages_post_size}: the most bytes one post may carry to this queue."""
        return self._get("max_messages_post_size")

    @property
    def dead_letter_queue(self) -> Any:
        """C{_dead_letter_queue}: the queue where messages claimed too often go, or C{None}."""
        return self._get("dead_letter_queue")

    @property
    def dead_letter_queue_messages_ttl(self) -> Any:
        """C{_dead_letter_queue_messages_ttl}: the ttl messages get when moved to the dead letter queue."""
        return self._get("dead_letter_queue_messages_ttl")

    @property
    def max_claim_count(self) -> Any:
        """C{_max_claim_count}: claims after which a message goes to the dead letter queue."""
        return self._get("max_claim_count")

    @property
    def enable_encrypt_messages(self) -> Any:
        """C{_enable_encrypt_messages}: whether Zaqar stores this queue's messages encrypted."""
        return self._get("enable_encrypt_messages")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class QueueStats:
    """Message counts of a queue, and its oldest and newest message (C{dict}s) when not empty."""

    #: Messages claimed now.
    claimed: int
    #: Messages not claimed.
    free: int
    #: All messages.
    total: int
    #: The oldest message (C{age}, C{created}, C{href}), or C{None} when empty.
    oldest: Mapping[str, Any] | None = None
    #: The newest message (C{age}, C{created}, C{href}), or C{None} when empty.
    newest: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Any) -> "QueueStats":
        """
        Read Zaqar's stats answer.

        @return: the stats.
        @raise MalformedResponse: not a stats document.
        """
        try:
            m = data["messages"]
            return cls(
                claimed=int(m["claimed"]), free=int(m["free"]), total=int(m["total"]),
                oldest=m.get("oldest"), newest=m.get("newest"),
            )
        except (KeyError, TypeError, ValueError):
            raise MalformedResponse("Malformed stats", f"{data!r:.200}") from None


def check_reserved(name: str, value: Any) -> tuple[str, Any]:
    """
    Check a reserved metadata setting.

    @param name: its name without the C{_} (e.g. C{default_message_ttl}).
    @return: Zaqar's key (with the C{_}) and the value.
    @raise ClientValidationError: an unknown name or a value Zaqar would refuse.
    """
    if name not in RESERVED:
        raise ClientValidationError(
            name, f"is not a reserved setting; known: {', '.join(sorted(RESERVED))}"
        )
    key, rule = RESERVED[name]
    if rule == "queue":
        try:
            v.queue_name(value)
        except ClientValidationError as e:
            raise ClientValidationError(name, f"must be a queue name: {e.description}") from None
    elif rule == "bool":
        if not isinstance(value, bool):
            raise ClientValidationError(name, "must be True or False")
    elif rule == "str":
        if not isinstance(value, str) or not value:
            raise ClientValidationError(name, "must be a non-empty string")
    else:
        assert isinstance(rule, tuple)
        low, high = rule
        v.integer(name, value, low, high)
    return key, value


def escape_pointer(key: str) -> str:
    """A metadata key as a JSON Pointer segment (C{~} and C{/} escaped)."""
    return key.replace("~", "~0").replace("/", "~1")


def message_doc(message: Any, ttl: int | None, delay: int | None) -> dict[str, Any]:
    """
    The document of one message to post, with the post's ttl and delay unless it has its own.

    @return: a C{dict} with C{body} and the checked C{ttl} and C{delay}.
    @raise ClientValidationError: not a C{dict} with a C{body}, unknown fields, or a bad ttl or delay.
    """
    if not isinstance(message, Mapping) or "body" not in message:
        raise ClientValidationError(
            "messages", f'each message is a dict with a "body" key, not {message!r:.80}'
        )
    extra = set(message) - {"body", "ttl", "delay"}
    if extra:
        raise ClientValidationError("messages", f"unknown message fields {sorted(extra)}")
    doc = {"body": message["body"]}
    msg_ttl = message.get("ttl", ttl)
    if msg_ttl is not None:
        doc["ttl"] = v.integer("message ttl", msg_ttl, *v.MESSAGE_TTL)
    msg_delay = message.get("delay", delay)
    if msg_delay is not None:
        doc["delay"] = v.integer("message delay", msg_delay, *v.MESSAGE_DELAY)
    return doc


def split_post(
    messages: Sequence[Mapping[str, Any]], max_size: int, max_count: int = v.MAX_IDS
) -> list[tuple[list[dict[str, Any]], bytes]]:
    """
    Encode messages into request bodies of at most C{max_count} messages
    and C{max_size} bytes each, keeping their order.

    @raise ClientValidationError: one message alone is over C{max_size}.
    """
    overhead = len(b'{"messages":[]}')
    chunks: list[tuple[list[dict[str, Any]], bytes]] = []
    docs: list[dict[str, Any]] = []
    encoded: list[bytes] = []
    size = overhead

    def flush() -> None:
        nonlocal docs, encoded, size
        if docs:
            chunks.append((docs, b'{"messages":[' + b",".join(encoded) + b"]}"))
        docs, encoded, size = [], [], overhead

    for index, doc in enumerate(messages):
        try:
            text = json.dumps(doc, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as e:
            raise ClientValidationError("messages", f"message {index} is not JSON: {e}") from None
        v.json_integers(f"message {index}", doc)  # no surrogate left: the encoding cannot fail
        raw = text.encode("utf-8")  # sizes as the server measures them, not in ASCII escapes
        if overhead + len(raw) > max_size:
            raise ClientValidationError(
                "messages",
                f"message {index} is {len(raw)} bytes encoded; a post may be at most "
                f"{max_size} bytes",
            )
        added = len(raw) + (1 if docs else 0)
        if len(docs) >= max_count or size + added > max_size:
            flush()
            added = len(raw)
        docs.append(dict(doc))
        encoded.append(raw)
        size += added
    flush()
    return chunks


