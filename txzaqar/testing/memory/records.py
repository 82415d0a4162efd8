"""
What the model of the in-memory Zaqar stores and returns (messages,
claims, subscriptions, projects), the reserved queue metadata and its
defaults, and the model's refusals (L{ModelError}s, which the wire layer
answers).  Plain values: no HTTP, no time.
"""

from __future__ import annotations

from typing import Any

import attr

from .checks import DEFAULT_MESSAGE_TTL, MAX_POST_SIZE

__all__ = [
    "ClaimNotFound",
    "MessageClaimed",
    "MessageNotClaimed",
    "ModelError",
    "NewMessage",
    "NoSuchClaim",
    "NoSuchMessage",
    "NoSuchMessages",
    "NoSuchMetadataKey",
    "NoSuchQueue",
    "NoSuchSubscription",
    "Project",
    "QueueStats",
    "StoredClaim",
    "StoredMessage",
    "StoredSubscription",
    "SubscriptionExists",
    "patched_metadata",
    "reserved_defaults",
    "with_defaults",
]


def reserved_defaults() -> dict[str, Any]:
    """What GET, PATCH and detailed lists show for absent or falsy reserved keys."""
    return {
        "_max_messages_post_size": MAX_POST_SIZE,
        "_default_message_ttl": DEFAULT_MESSAGE_TTL,
        "_default_message_delay": 0,
        "_dead_letter_queue": None,
        "_dead_letter_queue_messages_ttl": None,
        "_max_claim_count": None,
        "_enable_encrypt_messages": False,
    }


def with_defaults(metadata: dict[str, Any]) -> dict[str, Any]:
    """A copy of C{metadata} with L{reserved_defaults} for its absent or falsy keys."""
    result = dict(metadata)
    for key, value in reserved_defaults().items():
        if not result.get(key):
            result[key] = value
    return result


# -- what can go wrong ------------------------------------------------------------


class ModelError(Exception):
    """An operation refused by the model; the wire layer maps each kind to a response."""


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchQueue(ModelError):
    project: str
    queue: str


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchMessage(ModelError):
    project: str
    queue: str
    message_id: str


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchMessages(ModelError):
    """None of the messages asked for by id exists."""

    project: str
    queue: str
    message_ids: list[str]


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchClaim(ModelError):
    project: str
    queue: str
    claim_id: str


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchSubscription(ModelError):
    subscription_id: str


@attr.s(auto_attribs=True, auto_exc=True)
class SubscriptionExists(ModelError):
    """Another live subscription of the queue has this subscriber."""

    subscriber: str


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchMetadataKey(ModelError):
    """A metadata patch replaces or removes a key the queue does not have."""

    op: str
    key: str


class ClaimNotFound(ModelError):
    """A message delete names a claim that does not exist or has expired."""


class MessageClaimed(ModelError):
    """A message delete without the live claim that holds the message."""


class MessageNotClaimed(ModelError):
    """A message delete names a claim, but the message is free."""


# -- stored things -------------------------------------------------------------------


@attr.s(auto_attribs=True, eq=False)
class StoredMessage:
    id: str
    queue: str
    body: Any
    ttl: int
    created: int
    expires: int
    client_id: str
    seq: int
    claim_id: str | None = None
    claim_expires: int = 0
    claim_count: int = 0
    delay_expires: int = 0

    def claimed(self, now: int) -> bool:
        """Whether a claim holds the message at C{now}."""
        return bool(self.claim_id) and now < self.claim_expires

    def shown_claim(self, now: int) -> str | None:
        """
        The claim id to show: none once the claim expired (Redis shows the
        stale id; the fake is exact).
        """
        return self.claim_id if self.claimed(now) else None


@attr.s(auto_attribs=True, eq=False)
class StoredClaim:
    id: str
    queue: str
    ttl: int
    expires: int
    message_ids: list[str]


@attr.s(auto_attribs=True, eq=False)
class StoredSubscription:
    id: str
    source: str
    subscriber: str
    ttl: int
    expires: int
    options: Any
    confirmed: bool = False


@attr.s(auto_attribs=True, frozen=True)
class NewMessage:
    """A message to post, its fields already checked."""

    body: Any
    ttl: int
    delay: int = 0


@attr.s(auto_attribs=True, frozen=True)
class QueueStats:
    claimed: int
    free: int
    total: int
    oldest: StoredMessage
    newest: StoredMessage


@attr.s(auto_attribs=True, eq=False)
class Project:
    """One project's queues (name to stored metadata) and what is in them."""

    queues: dict[str, dict[str, Any]] = attr.Factory(dict)
    #: Message ids per queue name, in posting order (like Redis's msgsets,
    #: these may outlive or precede the queue: a dead letter queue need
    #: not exist).
    msgsets: dict[str, list[str]] = attr.Factory(dict)
    #: Every message of the project by id (ids are unique, as in Redis).
    messages: dict[str, StoredMessage] = attr.Factory(dict)
    claims: dict[str, StoredClaim] = attr.Factory(dict)
    subscriptions: dict[str, StoredSubscription] = attr.Factory(dict)


def patched_metadata(metadata: dict[str, Any],
                     changes: list[tuple[str, str, Any]]) -> dict[str, Any]:
    """
    Apply checked JSON-patch operations C{(op, key, value)} to a copy of
    stored metadata.  A reserved key counts as present (it has a default).

    @raise NoSuchMetadataKey: a C{replace} or C{remove} of an absent key.
    """
    result = dict(metadata)
    reserved = reserved_defaults()
    for op, key, value in changes:
        if op == "add":
            result[key] = value
        elif op == "replace":
            if key in result or key in reserved:
                result[key] = value
            else:
                raise NoSuchMetadataKey("replace", key)
        elif key in result:
            result.pop(key)
        elif key not in reserved:
            raise NoSuchMetadataKey("remove", key)
    return result
