"""
The only module of txzaqar that speaks HTTP.

L{Connection} sends JSON to Zaqar through a Twisted web C{IAgent}, not
treq's C{HTTPClient}: its per-request URL parsing and wrappers cost more
client CPU than the rest of a request (see C{_send}).  It reads every
response body in full, and turns what comes back into a L{Response} or a typed
L{txzaqar.errors.ZaqarError}.  It adds C{Client-ID}, the authenticator's
headers, a timeout on every request (covering the body too), bounded
jittered retries for requests that are safe to replay, and one
re-authentication on a 401.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import attr
from hyperlink import EncodedURL
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer
from zope.interface import implementer

from .. import errors
from .._support import arguments
from .._support.backoff import Backoff, scaled
from .._support.validation import positive_seconds
from .._version import __version__
from ..interfaces import IAuthenticator, IConnection, IRequestObserver
from ._transport_failures import Cancelled, Tracked, connect_phase, describe, read_body, transport_error
from ._twisted_internals import HTTP10ClosingPool

#: This module's logger.
log = Logger(namespace="txzaqar.connection")  # its name before the move to packages

#: A result type.
T = TypeVar("T")

#: The C{User-Agent} sent with every request.
USER_AGENT = f"txzaqar/{__version__}"
#: The content type of request bodies (and of Zaqar's answers).
JSON_TYPE = "application/json"
#: The content type of a queue metadata C{PATCH} (JSON Patch, as Zaqar's v2 API names it).
JSON_PATCH_TYPE = "application/openstack-messaging-v2.0-json-patch"

#: Methods that can be replayed after a failure without changing the outcome.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

#: How long an idle pooled connection is kept.  gunicorn closes idle
#: keep-alive connections after 2 s; staying under that means the pool
#: never hands out a connection the server is about to close.
DEFAULT_IDLE_TIMEOUT = 1.5


@implementer(IBodyProducer)
class _BytesProducer:
    """
    Writes a request body synchronously, so it works under
    C{RequestTraversalAgent} and can be rebuilt for a retry.
    """

    def __init__(self, body: bytes) -> None:
        self._body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> Deferred[None]:
        consumer.write(self._body)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class ZaqarConnectionPool(HTTP10ClosingPool):
    """
    A persistent pool for Zaqar: idle connections are closed before
    gunicorn would close them, and HTTP/1.0 answers are never pooled (see
    L{HTTP10ClosingPool}).
    """

    cachedConnectionTimeout = DEFAULT_IDLE_TIMEOUT  # type: ignore[assignment]
    #: Replay a request that failed on a reused connection the server had just closed (Twisted's default).
    retryAutomatically = True
    #: Idle connections kept per host (Twisted's default of 2 would make concurrent requests reconnect).
    maxPersistentPerHost = 16


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Response:
    """
    A complete response from Zaqar.
    """

    #: HTTP status.
    code: int
    #: Lower-case header name to (last) value.
    headers: Mapping[str, str]
    #: The raw body.
    content: bytes
    #: The parsed body, or C{None} when the body was empty.
    json: Any = None

    @property
    def location(self) -> str | None:
        """The C{Location} header (where a created resource is), or C{None}."""
        return self.headers.get("location")


def _query(params: Mapping[str, Any] | None) -> str:
    if not params:
        return ""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        pairs.append((key, str(value)))
    return urlencode(pairs, safe=",")  # Falcon splits lists on literal commas only


def _lower_headers(headers: Headers) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): values[-1].decode("latin-1")
        for name, values in headers.getAllRawHeaders()
    }


@implementer(IConnection)
class Connection:
    """
    JSON over HTTP to one Zaqar endpoint.

    A request fails with a L{txzaqar.errors.ZaqarError}, never a raw Twisted
    exception: transport failures are mapped by
    L{txzaqar.http._transport_failures.transport_error}, a request cancelled by its
    timeout is a L{RequestTimedOut}, one cut by L{close} a L{ClientClosed}.
    A request is retried when nothing reached the server (C{not_sent}), or,
    if it is idempotent, after a connection failure, a timeout or a 5xx.

    @param agent: the L{twisted.web.iweb.IAgent} requests go through (see L{make_agent}).
    @param reactor: provides L{twisted.internet.interfaces.IReactorTime}; used for timeouts and backoff.
    @param authenticator: an L{IAuthenticator}.
    @param url: the Zaqar base URL (C{http://host:port}); when C{None},
        the authenticator's endpoint is used.
    @param client_id: the C{Client-ID}, a UUID; a new one when omitted.
    @param timeout: seconds for one attempt, body included.
    @param retries: further attempts for replayable requests.
    @param pool: the pool behind C{agent}, closed by L{close}.
    """

    def __init__(
        self,
        agent: IAgent,
        reactor: IReactorTime,
        authenticator: IAuthenticator,
        url: str | None = None,
        client_id: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.1,
        pool: HTTPConnectionPool | None = None,
    ) -> None:
        self.agent = agent
        self.reactor = reactor
        self.authenticator = authenticator
        self._url = url.rstrip("/") if url else None
        self.client_id = arguments.client_id(client_id) if client_id is not None else str(uuid.uuid4())
        self.timeout = positive_seconds("timeout", timeout)
        #: Further attempts for a replayable request after the first fails.
        self.retries = retries
        #: Seconds before the first retry; each further one waits twice as long, times a random 0.5 to 1.5.
        self.backoff = backoff
        self._pool = pool
        self._in_flight: set[Deferred[Any]] = set()
        self._random = random.Random()
        self._closed = False
        #: The L{IRequestObserver}s told of every attempt (see L{IConnection.observers}).
        self.observers: list[IRequestObserver] = []

    def __repr__(self) -> str:
        return f"<Connection {self._url or '(endpoint from catalog)'} client_id={self.client_id}>"

    @property
    def url(self) -> str | None:
        """The base URL: as given, or once found by the authenticator; else C{None}."""
        return self._url

    async def base_url(self) -> str:
        """
        The base URL: as given, or asked of the authenticator (once).

        @return: a Deferred firing with the URL, without a trailing C{/}.
        @raise ClientValidationError: no URL was given and the authenticator found none.
        """
        if self._url is None:
            found = await self.authenticator.endpoint()
            if not found:
                raise errors.ClientValidationError(
                    "url", "no Zaqar URL given and none found by the authenticator"
                )
            self._url = found.rstrip("/")
        return self._url

    async def _absolute(self, path: str, params: Mapping[str, Any] | None) -> str:
        base = await self.base_url()
        root = urlsplit(base)
        prefix = root.path.rstrip("/")
        if path.startswith("/"):
            full = f"{root.scheme}://{root.netloc}{prefix}{path}"
        else:
            full = f"{base}/v2/{path}"
        query = _query(params)
        if query:
            full += ("&" if "?" in full else "?") + query
        return full

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        idempotent: bool | None = None,
        ok: tuple[int, ...] = (),
        operation: str | None = None,
    ) -> Deferred[Response]:
        d = Deferred.fromCoroutine(
            self._request(method.upper(), path, params, body, content_type, idempotent, ok, operation)
        )
        self._in_flight.add(d)

        def done(result: Any) -> Any:
            self._in_flight.discard(d)
            return result

        return d.addBoth(done)

    def head(self, path: str, **kwargs: Any) -> Deferred[Response]:
        return self.request("HEAD", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Deferred[Response]:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Deferred[Response]:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Deferred[Response]:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Deferred[Response]:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Deferred[Response]:
        return self.request("DELETE", path, **kwargs)

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        idempotent: bool | None,
        ok: tuple[int, ...],
        operation: str | None,
    ) -> Response:
        if self._closed:
            raise self._closed_error(method, path, not_sent=True)
        check = getattr(self.authenticator, "check", None)
        if check is not None:  # one written before IAuthenticator.check allows everything
            check(method, api_path(path))
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        data = None
        if isinstance(body, bytes):
            data = body  # already encoded JSON
        elif body is not None:
            try:
                data = json.dumps(body, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")
            except (TypeError, ValueError, RecursionError) as e:
                raise errors.ClientValidationError("body", f"is not JSON-serialisable: {e}") from None
        url = await self._absolute(path, params)
        try:
            return await self._attempts(method, path, url, data, content_type, idempotent, ok, operation)
        except CancelledError as e:
            if self._closed:  # close() cancelled it
                raise self._closed_error(method, path, not_sent=isinstance(e, Cancelled) and e.not_sent) from None
            raise
        except errors.ZaqarError as e:
            if self._closed and not isinstance(e, errors.ClientClosed):  # failed because close() cut it
                raise self._closed_error(method, path, not_sent=e.not_sent) from None
            raise

    def _closed_error(self, method: str, path: str, not_sent: bool) -> errors.ClientClosed:
        what = "before it was sent" if not_sent else "while it was in flight (it may have reached Zaqar)"
        return errors.ClientClosed("Client closed", f"{method} {path}: close() was called {what}",
                                   not_sent=not_sent)

    async def _attempts(
        self,
        method: str,
        path: str,
        url: str,
        data: bytes | None,
        content_type: str | None,
        idempotent: bool,
        ok: tuple[int, ...],
        operation: str | None = None,
    ) -> Response:
        """The attempts of one request: retries with backoff, one re-authentication."""
        attempt = 0
        reauthenticated = False
        while True:
            try:
                return await self._observed(method, (path, operation), self._attempt(method, url, data, content_type, ok))
            except errors.Unauthorized as e:
                if reauthenticated or not self.authenticator.invalidate(e.auth_headers):
                    raise
                reauthenticated = True
                log.info("{method} {url} got 401: re-authenticating once", method=method, url=url)
                continue
            except errors.ZaqarError as e:
                retry = not self._closed and attempt < self.retries and self._replayable(e, idempotent)
                if not retry:
                    raise
                attempt += 1
                delay = Backoff(self.backoff, jitter=scaled(self._random.random))(attempt - 1)
                # at debug: the caller (the Subscriber) says once that its queue
                # fails; a line per retry would flood the log during an outage
                log.debug(
                    "{method} {url} failed ({error}); retry {attempt} in {delay:.2f}s",
                    method=method, url=url, error=str(e), attempt=attempt, delay=delay,
                )
                await deferLater(self.reactor, delay, lambda: None)

    async def _observed(self, method: str, target: tuple[str, str | None], attempt: Any) -> Response:
        """
        Await the coroutine C{attempt}, and tell the L{observers} how it went.

        @param target: the path as given, and the operation the request named.
        """
        if not self.observers:
            return await attempt
        started = self.reactor.seconds()
        status: int | None = None
        try:
            response: Response = await attempt
            status = response.code
            return response
        except errors.ZaqarError as e:
            status = e.code
            raise
        finally:
            seconds = self.reactor.seconds() - started
            path, operation = target
            for observer in list(self.observers):
                try:
                    observer.request_finished(method, path, status, seconds, operation)
                except Exception:
                    log.failure("request observer {observer!r} failed", observer=observer)

    @staticmethod
    def _replayable(e: errors.ZaqarError, idempotent: bool) -> bool:
        if isinstance(e, (errors.ClientValidationError, errors.CertificateVerificationFailed,
                          errors.ClientClosed)):
            return False  # the same again would fail the same way
        if e.not_sent and isinstance(e, (errors.TransportError, errors.IdentityUnavailable)):
            return True  # nothing reached the server: always safe
        if not idempotent:
            return False
        if isinstance(e, (errors.ConnectionFailed, errors.RequestTimedOut)):
            return True
        return e.code in errors.RETRYABLE_STATUSES

    async def _attempt(
        self,
        method: str,
        url: str,
        data: bytes | None,
        content_type: str | None,
        ok: tuple[int, ...],
    ) -> Response:
        try:
            auth_headers = await self.authenticator.headers()
        except errors.IdentityUnavailable as e:
            # Keystone is away: Zaqar saw nothing, so even a POST may be
            # replayed (a refusal of the credentials is not retried)
            e.not_sent = True
            raise
        headers = {
            "Client-ID": self.client_id,
            "Accept": JSON_TYPE,
            "User-Agent": USER_AGENT,
        }
        headers.update(auth_headers)
        if data is not None:
            headers["Content-Type"] = content_type or JSON_TYPE
        raw = _raw_headers(headers)
        producer = _BytesProducer(data) if data is not None else None
        d = Deferred.fromCoroutine(self._send(method, url, raw, producer))
        timed_out = False

        def time_out() -> None:
            nonlocal timed_out
            timed_out = True
            d.cancel()

        timer = self.reactor.callLater(self.timeout, time_out)
        try:
            code, resp_headers, content = await d
        except CancelledError as e:
            if not timed_out:
                raise
            not_sent = isinstance(e, Cancelled) and e.not_sent
            what = "no connection" if not_sent else "no complete response"
            raise errors.RequestTimedOut(
                "Request timed out", f"{method} {url}: {what} in {self.timeout:g}s", not_sent=not_sent
            ) from None
        finally:
            if timer.active():
                timer.cancel()
        try:
            return self._check(method, url, code, resp_headers, content, ok)
        except errors.Unauthorized as e:
            e.auth_headers = auth_headers
            raise

    async def _send(
        self, method: str, url: str, headers: Headers, producer: _BytesProducer | None
    ) -> tuple[int, dict[str, str], bytes]:
        # Straight to the agent: treq's request() parses the URL with
        # hyperlink, IDNA-encodes the host and runs cookie, redirect and
        # gzip wrappers on every call, which cost more client CPU than the
        # rest of a request together; Zaqar needs none of them.
        tracked: Tracked | None = None
        try:
            tracked = Tracked(self.agent.request(method.encode("ascii"), _url_bytes(url), headers, producer))
            response = await tracked.outer
        except Exception as e:
            if tracked is not None and tracked.cancelled:  # a timeout, close() or the caller
                raise Cancelled(not_sent=connect_phase(e)) from None
            raise transport_error(e, method, url) from None
        resp_headers = _lower_headers(response.headers)
        body = Tracked(read_body(response))
        try:
            content = await body.outer
        except Exception as e:
            if body.cancelled:
                raise Cancelled(not_sent=False) from None
            raise errors.MalformedResponse(
                "Truncated response",
                f"{method} {url} -> {response.code}: body cut short ({describe(e)})",
                code=response.code,
                request_id=resp_headers.get("x-openstack-request-id"),
            ) from None
        return response.code, resp_headers, content

    def _check(
        self,
        method: str,
        url: str,
        code: int,
        headers: dict[str, str],
        content: bytes,
        ok: tuple[int, ...],
    ) -> Response:
        request_id = headers.get("x-openstack-request-id")
        if not (200 <= code < 300 or code in ok):
            raise errors.error_from_response(code, content, headers)
        parsed = None
        if content.strip() and code != 204:
            try:
                parsed = json.loads(content)
            except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
                snippet = content[:120].decode("utf-8", "replace")
                raise errors.MalformedResponse(
                    "Response is not JSON",
                    f"{method} {url} -> {code} with body {snippet!r}",
                    code=code,
                    request_id=request_id,
                ) from None
        log.debug("{method} {url} -> {code}", method=method, url=url, code=code)
        return Response(code=code, headers=headers, content=content, json=parsed)

    def close(self, timeout: float = 5.0) -> Deferred[None]:
        self._closed = True
        for d in list(self._in_flight):
            d.cancel()
        self.authenticator.close()
        if self._pool is None:
            return succeed(None)
        d = self._pool.closeCachedConnections()
        d.addTimeout(timeout, self.reactor)
        d.addErrback(lambda f: log.warn("closing connections: {f}", f=f.getErrorMessage()))
        return d.addCallback(lambda _: None)


def api_path(path: str) -> str:
    """
    The path from the API root that a request for C{path} (as
    L{Connection.request} takes it) goes to, without its query:
    C{queues/q/messages?ids=a} is C{/v2/queues/q/messages}.
    """
    path = path.split("?", 1)[0]
    return path if path.startswith("/") else "/v2/" + path


def _raw_headers(headers: Mapping[str, str]) -> Headers:
    """
    C{headers} as Twisted's L{Headers}: names and values must be latin-1
    and hold no control character (what HTTP/1.1 carries).

    @raise ClientValidationError: a header that cannot be sent (nothing is).
    """
    raw = {}
    for name, value in headers.items():
        try:
            encoded = value.encode("latin-1")
        except UnicodeEncodeError:
            raise errors.ClientValidationError(  # the value itself may be a secret: never shown
                "headers", f"the {name} header cannot be sent: HTTP headers carry latin-1 text only"
            ) from None
        if any(c < 0x20 or c == 0x7F for c in encoded):
            raise errors.ClientValidationError("headers", f"the {name} header holds a control character")
        raw[name.encode("latin-1")] = [encoded]
    return Headers(raw)


def _url_bytes(url: str) -> bytes:
    try:
        return url.encode("ascii")
    except UnicodeEncodeError:  # an IDN host or a raw non-ASCII path: let hyperlink encode it
        return EncodedURL.from_text(url).to_uri().to_text().encode("ascii")


def make_pool(reactor: Any, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> ZaqarConnectionPool:
    """A persistent L{ZaqarConnectionPool} on C{reactor}."""
    pool = ZaqarConnectionPool(reactor, persistent=True)
    pool.cachedConnectionTimeout = idle_timeout  # type: ignore[has-type]
    return pool


def make_agent(
    reactor: Any,
    pool: HTTPConnectionPool | None = None,
    tls: Any = None,
    connect_timeout: float | None = 10.0,
) -> IAgent:
    """
    The production agent: a real L{Agent} over C{pool}.

    @param tls: a C{IPolicyForHTTPS} (see L{txzaqar.auth.tls}); verification
        of server certificates against the system trust store by default.
    """
    kwargs: dict[str, Any] = {"pool": pool, "connectTimeout": connect_timeout}
    if tls is not None:
        kwargs["contextFactory"] = tls
    return Agent(reactor, **kwargs)

