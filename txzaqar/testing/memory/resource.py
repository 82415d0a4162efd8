"""
L{MemoryZaqar}: the in-memory Zaqar as a C{twisted.web} resource, made of
the model (L{model.ZaqarState}), the wire layer (L{wire}), the route table
(L{routes}) and the signed-URL check (L{signing}).
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

from . import signing
from .model import ZaqarState
from .push import MemoryPush
from .records import ModelError
from .routes import Context, find_route
from .wire import (
    ErrorResponse,
    Response,
    WireRequest,
    before_hooks,
    encode,
    error_for,
    error_response,
    not_found,
)

__all__ = ["MemoryZaqar"]

#: This module's logger.
log = Logger()


class MemoryZaqar(Resource):
    """
    An in-memory Zaqar v2 server: a C{twisted.web} resource that answers
    the Zaqar v2 HTTP API the way Zaqar 23.0.1 on Redis does
    (the quirks it keeps: L{txzaqar.testing.quirks}): the same routes, statuses, error titles
    and descriptions, limits, reserved metadata and their defaults, echo
    filtering by C{Client-ID}, claims with ttl and grace, delayed messages,
    dead-letter moves, subscriptions and pre-signed URLs.  Where Zaqar
    23.0.1 has a bug, or Redis is sloppy, the fake does what the API means;
    each such difference is noted beside the code that makes it, and the
    contract suite (C{txzaqar.testing.contract}) names each one.

    The real L{txzaqar.Client} reaches it through treq's
    C{RequestTraversalAgent} (see C{txzaqar.testing.memory_client}).

    @param clock: an L{IReactorTime} (a L{twisted.internet.task.Clock} in
        tests); message, claim and subscription times follow it.  The
        wall-clock dates it shows (stats C{created}, share C{expires})
        start from the real time at construction and move with C{clock}.
    @param secret_key: the C{[signed_url] secret_key}; C{None} makes
        C{share} fail as a server without one does.
    @param admin_mode: serve C{/v2/health} (for the C{admin} role).
    @param client_id_uuid_safe: C{"strict"} (the default: C{Client-ID}
        must be a UUID) or C{"off"} (10 to 36 characters).
    @note: read-only views for tests: L{queue_names}, L{message_bodies},
        L{metadata}.
    """

    #: No children: L{render} routes every path itself.
    isLeaf = True

    def __init__(
        self,
        clock: IReactorTime,
        secret_key: str | None = "txzaqar-memory-secret",
        admin_mode: bool = True,
        client_id_uuid_safe: str = "strict",
    ) -> None:
        super().__init__()
        self._state = ZaqarState(clock)
        #: The C{[signed_url] secret_key} (C{None}: shares fail).
        self.secret_key = secret_key
        #: Whether C{/v2/health} is served.
        self.admin_mode = admin_mode
        #: C{"strict"} (C{Client-ID} must be a UUID) or C{"off"} (10 to 36 characters).
        self.client_id_uuid_safe = client_id_uuid_safe
        #: Every request served, as C{(method, path)}, for assertions.
        self.requests: list[tuple[str, str]] = []

    @property
    def clock(self) -> Any:
        """The C{IReactorTime} given (typed loosely: a C{Clock} in tests, to advance)."""
        return self._state.clock

    @clock.setter
    def clock(self, clock: IReactorTime) -> None:
        """Make times follow another C{IReactorTime}."""
        self._state.clock = clock

    # -- views for tests ------------------------------------------------------

    def queue_names(self, project_id: str) -> list[str]:
        """The queues of a project, sorted."""
        return self._state.queue_names(project_id)

    def metadata(self, project_id: str, queue_name: str) -> dict[str, Any] | None:
        """A queue's stored metadata (no defaults), or C{None} if it does not exist."""
        return self._state.metadata(project_id, queue_name)

    def message_bodies(self, project_id: str, queue_name: str) -> list[Any]:
        """The bodies of a queue's live messages (claimed and delayed too), oldest first."""
        return self._state.message_bodies(project_id, queue_name)

    # -- push notifications ---------------------------------------------------

    def push(self, project_id: str = "test") -> MemoryPush:
        """
        A new L{MemoryPush}: this fake's notifications of the messages
        posted to the queues of C{project_id}, for a Subscriber's C{push=}
        (see L{txzaqar.testing.memory.push} for an example).

        @param project_id: the project (C{"test"}, the default of
            C{memory_client()}).
        @return: the L{MemoryPush}, not started.
        """
        return MemoryPush(self._state, project_id)

    # -- twisted.web ----------------------------------------------------------

    def render(self, request: Request) -> bytes:
        """
        Answer one request as Zaqar would: route it, run its handler, and write the status, headers and
        JSON body (or Falcon's error body).

        @return: the response body.
        """
        request.setHeader(b"x-openstack-request-id", f"req-{uuid.uuid4()}".encode())
        req = WireRequest(request)
        self.requests.append((req.method, req.path))
        try:
            response = self._dispatch(req)
            code, headers, body = encode(req.method, response)
        except ModelError as e:
            code, headers, body = encode(req.method, error_response(error_for(e)))
        except ErrorResponse as e:
            code, headers, body = encode(req.method, error_response(e))
        except Exception:
            # A bug of the fake, or an input it does not model: answer as
            # Falcon does to an unexpected error, never leave the request hanging.
            log.failure("the in-memory Zaqar failed on {method} {path}", method=req.method, path=req.path)
            code, headers, body = encode(req.method, error_response(
                ErrorResponse(500, "500 Internal Server Error")))
        request.setResponseCode(code)
        for name, value in headers.items():
            request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
        return body

    def _dispatch(self, req: WireRequest) -> Response:
        found = find_route(req.path, self.admin_mode)
        if found is None:
            raise not_found()
        route, params = found
        # Zaqar's before-hooks run before method routing, signed URLs first.
        if "url-signature" in req.headers and not signing.verified(
                self.secret_key, req.method, req.path, req.headers, self._state.wall()):
            raise not_found()
        before_hooks(req, params.get("queue_name"), route.bare, self.client_id_uuid_safe)
        if req.method == "OPTIONS":
            return 200, {"allow": route.allow()}, None
        handler = route.methods.get(req.method)
        if handler is None:
            raise ErrorResponse(405, "405 Method Not Allowed", headers={"allow": route.allow()})
        return handler(Context(self._state, self.secret_key), req, **params)
