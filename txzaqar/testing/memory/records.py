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
    """The queue does not exist."""

    #: The project asked in.
    project: str
    #: The queue's name.
    queue: str


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchMessage(ModelError):
    """The message does not exist in the queue (or has expired)."""

    #: The project asked in.
    project: str
    #: The queue's name.
    queue: str
    #: The message's id.
    message_id: str


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchMessages(ModelError):
    """None of the messages asked for by id exists."""

    #: The project asked in.
    project: str
    #: The queue's name.
    queue: str
    #: The ids asked for.
    message_ids: list[str]


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchClaim(ModelError):
    """No such live claim in the queue."""

    #: The project asked in.
    project: str
    #: The queue's name.
    queue: str
    #: The claim's id.
    claim_id: str


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchSubscription(ModelError):
    """No subscription has this id."""

    #: The id asked for.
    subscription_id: str


@attr.s(auto_attribs=True, auto_exc=True)
class SubscriptionExists(ModelError):
    """Another live subscription of the queue has this subscriber."""

    #: The subscriber URI already subscribed.
    subscriber: str


@attr.s(auto_attribs=True, auto_exc=True)
class NoSuchMetadataKey(ModelError):
    """A metadata patch replaces or removes a key the queue does not have."""

    #: The patch operation (C{replace} or C{remove}).
    op: str
    #: The metadata key it names.
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
    """A message as stored (times are the model clock's whole seconds)."""

    #: Its id (unique in the project).
    id: str
    #: The name of the queue it was posted to.
    queue: str
    #: The body, as posted.
    body: Any
    #: Its ttl, in seconds.
    ttl: int
    #: When it was posted.
    created: int
    #: When it expires (a claim may push this later).
    expires: int
    #: The C{Client-ID} of the poster (a listing shows a client its own messages only with C{echo}).
    client_id: str
    #: Posting order over the whole model, for stable listing.
    seq: int
    #: The id of the last claim that took it, or C{None}.
    claim_id: str | None = None
    #: When that claim expires.
    claim_expires: int = 0
    #: How many times it was claimed (for C{_max_claim_count}).
    claim_count: int = 0
    #: When its delay ends (it cannot be listed or claimed before).
    delay_expires: int = 0
    #: The stand-in ciphertext if it was posted to an encrypted queue (see L{encryption}), else C{None}.
    ciphertext: str | None = None

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
    """A claim as stored."""

    #: Its id.
    id: str
    #: The name of the queue it is on.
    queue: str
    #: Its ttl, in seconds.
    ttl: int
    #: When it expires (the model clock's seconds).
    expires: int
    #: The ids of the messages it took.
    message_ids: list[str]


@attr.s(auto_attribs=True, eq=False)
class StoredSubscription:
    """A subscription as stored."""

    #: Its id.
    id: str
    #: The name of the queue it is on.
    source: str
    #: The subscriber URI.
    subscriber: str
    #: Its ttl, in seconds.
    ttl: int
    #: When it expires (the model clock's seconds).
    expires: int
    #: Its options, as given.
    options: Any
    #: Whether it was confirmed.
    confirmed: bool = False


@attr.s(auto_attribs=True, frozen=True)
class NewMessage:
    """A message to post, its fields already checked."""

    #: The body.
    body: Any
    #: Its ttl, in seconds.
    ttl: int
    #: Seconds before it may be listed or claimed.
    delay: int = 0


@attr.s(auto_attribs=True, frozen=True)
class QueueStats:
    """Message counts of a non-empty queue and its oldest and newest message."""

    #: Messages held by a live claim.
    claimed: int
    #: Messages not claimed.
    free: int
    #: All messages.
    total: int
    #: The oldest message.
    oldest: StoredMessage
    #: The newest message.
    newest: StoredMessage


@attr.s(auto_attribs=True, eq=False)
class Project:
    """One project's queues (name to stored metadata) and what is in them."""

    #: Queue name to its stored metadata.
    queues: dict[str, dict[str, Any]] = attr.Factory(dict)
    #: Message ids per queue name, in posting order (like Redis's msgsets,
    #: these may outlive or precede the queue: a dead letter queue need
    #: not exist).
    msgsets: dict[str, list[str]] = attr.Factory(dict)
    #: Every message of the project by id (ids are unique, as in Redis).
    messages: dict[str, StoredMessage] = attr.Factory(dict)
    #: Every claim of the project by id.
    claims: dict[str, StoredClaim] = attr.Factory(dict)
    #: Every subscription of the project by id.
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
