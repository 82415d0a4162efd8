"""
Every path of Zaqar's v2 API that txzaqar requests, and its quoting, in one
place: each function gives a L{Route}, the path a request goes to and its
operation (the path's template), which the resources pass to
L{txzaqar.interfaces.IConnection.request} (C{operation=}) so that request
observers (the metrics) read it instead of parsing the path back.

Queue names are sent as they are (they are checked to hold only letters,
digits, C{-} and C{_}); ids and pool and flavor names are quoted, C{/}
included.
"""

from __future__ import annotations

from urllib.parse import quote

import attr

__all__ = [
    "FLAVORS", "HEALTH", "HOME", "PING", "POOLS", "QUEUES", "ROOT", "Route", "claim", "claim_href", "claims", "confirm",
    "flavor", "message", "message_href", "messages", "pool", "queue", "queue_href", "queue_part",
    "subscription", "subscriptions",
]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Route:
    """Where a request goes, and what kind of request it is."""

    #: The path as L{txzaqar.interfaces.IConnection.request} takes it: below C{/v2/}, or
    #: absolute from the server root when it starts with C{/}.
    path: str
    #: The path's template, names and ids replaced by placeholders
    #: (C{queues/{queue}/claims}); the method is not part of it.
    operation: str

    def child(self, segment: str) -> Route:
        """The route one fixed segment (a path word, not a name) further down."""
        return Route(f"{self.path}/{segment}", f"{self.operation}/{segment}")


def _quoted(value: object) -> str:
    return quote(str(value), safe="")


#: The API's home document (C{GET /v2/}).
HOME = Route("", "")
#: The server root, where the versions document is (C{GET /}).
ROOT = Route("/", "")
#: The liveness check.
PING = Route("ping", "ping")
#: The health document (admin).
HEALTH = Route("health", "health")
#: The queues of the project.
QUEUES = Route("queues", "queues")
#: The pools (admin).
POOLS = Route("pools", "pools")
#: The flavors (admin).
FLAVORS = Route("flavors", "flavors")


def queue(name: str) -> Route:
    """A queue."""
    return Route(f"queues/{name}", "queues/{queue}")


def queue_href(name: str) -> str:
    """A queue's path from the server root, as Zaqar writes it in C{href}s."""
    return f"/v2/queues/{name}"


def queue_part(name: str, part: str) -> Route:
    """
    A fixed part of a queue: C{stats}, C{purge}, C{share}, C{messages},
    C{claims} or C{subscriptions}.
    """
    return queue(name).child(part)


def messages(name: str) -> Route:
    """The messages of a queue."""
    return queue_part(name, "messages")


def message(name: str, message_id: str) -> Route:
    """One message, its id quoted."""
    return Route(f"queues/{name}/messages/{_quoted(message_id)}", "queues/{queue}/messages/{message_id}")


def message_href(name: str, message_id: str) -> str:
    """A message's path from the server root (as Zaqar writes it, the id unquoted)."""
    return f"{queue_href(name)}/messages/{message_id}"


def claims(name: str) -> Route:
    """The claims of a queue (where a claim is made)."""
    return queue_part(name, "claims")


def claim(name: str, claim_id: str) -> Route:
    """One claim, its id quoted."""
    return Route(f"queues/{name}/claims/{_quoted(claim_id)}", "queues/{queue}/claims/{claim_id}")


def claim_href(name: str, claim_id: str) -> str:
    """A claim's path from the server root (as Zaqar writes it, the id unquoted)."""
    return f"{queue_href(name)}/claims/{claim_id}"


def subscriptions(name: str) -> Route:
    """The subscriptions of a queue."""
    return queue_part(name, "subscriptions")


def subscription(name: str, subscription_id: str) -> Route:
    """One subscription, its id quoted."""
    return Route(f"queues/{name}/subscriptions/{_quoted(subscription_id)}",
                 "queues/{queue}/subscriptions/{subscription_id}")


def confirm(name: str, subscription_id: str) -> Route:
    """Where a subscription is confirmed."""
    return subscription(name, subscription_id).child("confirm")


def pool(name: str) -> Route:
    """A pool (admin), its name quoted."""
    return Route(f"pools/{_quoted(name)}", "pools/{pool}")


def flavor(name: str) -> Route:
    """A flavor (admin), its name quoted."""
    return Route(f"flavors/{_quoted(name)}", "flavors/{flavor}")
