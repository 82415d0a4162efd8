"""
The routes of the in-memory Zaqar, as one table: a path template, the
handler of each method, and whether the route needs Zaqar's project
headers.  Zaqar 23.0.1 in admin mode serves the same; there are no topics,
pools or flavors here (quirk 8 of L{txzaqar.testing.quirks}: they are 404s).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

import attr

from . import message_handlers as messages
from . import queue_handlers as queues
from . import subscription_handlers as subscriptions
from .homedoc import JSON_HOME
from .model import ZaqarState
from .wire import ErrorResponse, Response, WireRequest

__all__ = ["ROUTES", "VERSIONS", "Context", "Handler", "Route", "find_route"]

#: The version document C{GET /} answers (with a 300).
VERSIONS = {
    "versions": [
        {
            "id": "2",
            "status": "CURRENT",
            "updated": "2014-9-24T04:06:47Z",
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.messaging-v2+json"}
            ],
            "links": [{"href": "/v2/", "rel": "self"}],
        }
    ]
}


@attr.s(auto_attribs=True, frozen=True)
class Context:
    """What every handler is given besides the request."""

    #: The model.
    state: ZaqarState
    #: The C{[signed_url] secret_key} (C{None}: shares fail).
    secret_key: str | None


#: A handler: C{(context, request, **path parameters)} to a response.
Handler = Callable[..., Response]


@attr.s(auto_attribs=True, frozen=True)
class Route:
    """One route of the API: a path template and the handler of each method."""

    #: The path, with C{{name}} for a path segment passed to the handler as a keyword argument.
    template: str
    #: The handler of each method, in the order C{Allow} lists them.
    methods: Mapping[str, Handler]
    #: Served without C{Client-ID} and project headers.
    bare: bool = False
    #: Served only in admin mode (a 404 otherwise).
    admin: bool = False
    #: The template as a regular expression with a named group per path segment.
    pattern: re.Pattern[str] = attr.ib(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    def allow(self) -> str:
        """The C{Allow} header of the route."""
        return ", ".join((*self.methods, "OPTIONS"))


def get_versions(ctx: Context, req: WireRequest) -> Response:
    """C{GET /}: the versions, with a 300 as Zaqar answers."""
    return 300, {}, VERSIONS


def get_home(ctx: Context, req: WireRequest) -> Response:
    """C{GET /v2/}: the JSON home document (L{JSON_HOME})."""
    body = json.dumps(JSON_HOME, ensure_ascii=False, indent=4).encode("utf-8")
    return 200, {"content-type": "application/json-home", "cache-control": "max-age=86400"}, body


def ping(ctx: Context, req: WireRequest) -> Response:
    """C{GET} or C{HEAD /v2/ping}: a 204."""
    return 204, {}, None


_HEALTH_OPERATIONS = ("create_queue", "post_messages", "list_messages", "claim_messages",
                      "delete_messages", "delete_queue")


def get_health(ctx: Context, req: WireRequest) -> Response:
    """Zaqar's detailed health, for the C{admin} role."""
    roles = [r.strip().lower() for r in req.headers.get("x-roles", "").split(",")]
    if "admin" not in roles:
        raise ErrorResponse(403, "Not authorized", "You are not authorized to complete this action.")
    return 200, {}, {
        "storage_reachable": True,
        "operation_status": {op: {"succeeded": True, "seconds": 0.0, "ref": None}
                             for op in _HEALTH_OPERATIONS},
    }


_QUEUE = "/v2/queues/{queue_name}"

#: Every route of the API, matched in this order.
ROUTES: tuple[Route, ...] = (
    Route("/", {"GET": get_versions}, bare=True),
    Route("/v2/", {"GET": get_home}),
    Route("/v2/ping", {"GET": ping, "HEAD": ping}),
    Route("/v2/health", {"GET": get_health}, admin=True),
    Route("/v2/queues", {"GET": queues.get_queues}),
    Route(_QUEUE, {"GET": queues.get_queue, "PUT": queues.put_queue,
                   "PATCH": queues.patch_queue, "DELETE": queues.delete_queue}),
    Route(_QUEUE + "/stats", {"GET": queues.get_stats}),
    Route(_QUEUE + "/purge", {"POST": queues.post_purge}),
    Route(_QUEUE + "/share", {"POST": queues.post_share}),
    Route(_QUEUE + "/messages", {"GET": messages.get_messages, "POST": messages.post_messages,
                                 "DELETE": messages.delete_messages}),
    Route(_QUEUE + "/messages/{message_id}", {"GET": messages.get_message,
                                              "DELETE": messages.delete_message}),
    Route(_QUEUE + "/claims", {"POST": messages.post_claims}),
    Route(_QUEUE + "/claims/{claim_id}", {"GET": messages.get_claim,
                                          "PATCH": messages.patch_claim,
                                          "DELETE": messages.delete_claim}),
    Route(_QUEUE + "/subscriptions", {"GET": subscriptions.get_subscriptions,
                                      "POST": subscriptions.post_subscriptions}),
    Route(_QUEUE + "/subscriptions/{subscription_id}", {
        "GET": subscriptions.get_subscription,
        "PATCH": subscriptions.patch_subscription,
        "DELETE": subscriptions.delete_subscription,
    }),
    Route(_QUEUE + "/subscriptions/{subscription_id}/confirm", {"PUT": subscriptions.put_confirm}),
)


def find_route(path: str, admin_mode: bool) -> tuple[Route, dict[str, str]] | None:
    """The route serving C{path} and the path's parameters, or C{None} (a 404)."""
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is not None:
            if route.admin and not admin_mode:
                return None
            return route, match.groupdict()
    return None


