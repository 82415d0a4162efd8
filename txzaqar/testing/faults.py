"""
A fault-injecting HTTP proxy to put between a client and a real Zaqar.

L{FaultProxy} listens on a loopback port and forwards each request to the
Zaqar at C{upstream} (one upstream connection per request, and
C{Connection: close} towards the client, so that every request is on a
connection of its own and a fault never leaks into the next request).
Which request is faulted, and how, is decided by a L{FaultSchedule} from
the request's I{identity} (by default its method, path with query, and a
digest of its body) and how many times that same request came before
(its I{occurrence}: 0 the first time, 1 for its first retry...):
C{schedule.fault_for(occurrence, method, path, body)} is drawn from
C{random.Random} seeded with the schedule's seed, the identity and the
occurrence.  So the same seed faults the same requests the same way
whatever else goes through the proxy meanwhile, and in whatever order
concurrent requests arrive (a schedule's C{identify} may name requests
more stably still, e.g. a DELETE by the messages it acknowledges rather
than by their server-assigned ids).  Every request (faulted or not) is
recorded in L{FaultProxy.log} as a L{ProxiedRequest}, and every injected
fault is also logged as a C{twisted.logger} event (namespace
C{txzaqar.testing.faults})::

    proxy = FaultProxy("http://127.0.0.1:8888", FaultSchedule(seed=7, rate=0.2))
    proxy.listen()                      # a free loopback port
    client = txzaqar.connect(proxy.url, project_id="p", timeout=2)
    ...
    print(proxy.faults())               # [ProxiedRequest(n=3, method='POST', ...), ...]
    await proxy.stop()

The faults (L{FAULT_KINDS}):

  - C{refused}: the connection is reset (RST) as soon as the request has
    arrived; nothing is forwarded.  A listening proxy cannot refuse a
    connection it already accepted, so a client sees a reset, not
    C{ECONNREFUSED}.
  - C{reset_before}: the connection is closed without an answer; nothing
    is forwarded.
  - C{reset_after}: the request reaches Zaqar; its answer is dropped and
    the connection reset (the ambiguous case: done, but not known to be).
  - C{reset_mid_body}: the answer's head and half its body are sent, then
    the connection is reset.
  - C{stall}: the request reaches Zaqar; no byte of the answer is sent
    until the client gives up (or C{stall_limit} seconds pass).
  - C{trickle}: the whole answer, C{trickle_bytes} bytes every
    C{trickle_interval} seconds.
  - C{unavailable}: a 503 with Zaqar's JSON error body; nothing is
    forwarded.
  - C{bad_gateway_html}: a 502 with an HTML page, as a load balancer
    answers; nothing is forwarded.
  - C{truncated_json}: the request reaches Zaqar; its answer's body is
    cut in half (with a C{Content-Length} that matches the cut body).
  - C{wrong_content_type}: the request reaches Zaqar; its answer comes
    with C{Content-Type: text/html}.

When the upstream cannot be reached the client's connection is reset (as
a proxy in front of a stopped server would leave it), and the request is
recorded with C{upstream_status=None}.  Requests must carry their body
with a C{Content-Length} (as every Twisted and C{requests} client does for
a known body); a chunked request is answered 411.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import attr
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = [
    "FAULT_KINDS",
    "FORWARDED_KINDS",
    "FaultProxy",
    "FaultSchedule",
    "ProxiedRequest",
    "request_identity",
]

#: This module's logger.
log = Logger(namespace="txzaqar.testing.faults")

#: Every kind of fault, in the order L{FaultSchedule} draws from.
FAULT_KINDS: tuple[str, ...] = (
    "refused",
    "reset_before",
    "reset_after",
    "reset_mid_body",
    "stall",
    "trickle",
    "unavailable",
    "bad_gateway_html",
    "truncated_json",
    "wrong_content_type",
)

#: The kinds after which the request has reached Zaqar (and may have
#: taken effect there) although the client got no usable answer, or got
#: it late (C{trickle}).
FORWARDED_KINDS = frozenset(
    {"reset_after", "reset_mid_body", "stall", "trickle", "truncated_json", "wrong_content_type"}
)

_UNAVAILABLE_BODY = (
    b'{"title": "Service temporarily unavailable", '
    b'"description": "Please try again in a few seconds."}'
)
_BAD_GATEWAY_BODY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"proxy-connection"}


def _kinds_tuple(kinds: Iterable[str]) -> tuple[str, ...]:
    return tuple(kinds)


def request_identity(method: str, path: str, body: bytes = b"") -> str:
    """
    The default identity of a request: C{"METHOD PATH"} (the path with its
    query string), followed by a digest of the body when there is one.
    """
    if not body:
        return f"{method} {path}"
    return f"{method} {path} body:{hashlib.sha256(body).hexdigest()[:16]}"


@attr.s(frozen=True, auto_attribs=True)
class FaultSchedule:
    """
    Which requests a L{FaultProxy} faults, and how: deterministic for a
    seed, by request identity (see the module docstring).
    """

    #: the seed; a request's fault depends only on it, the request's
    #: identity and its occurrence.
    seed: int
    #: the share of requests faulted, from 0 to 1.
    rate: float
    #: the faults to choose from (uniformly), a subset of
    #: L{FAULT_KINDS}.
    kinds: tuple[str, ...] = attr.ib(default=FAULT_KINDS, converter=_kinds_tuple)
    #: C{applies(method, path)}: whether a request may be
    #: faulted at all (default: every request).  A request it excludes
    #: still counts as an occurrence of its identity.
    applies: Callable[[str, str], bool] | None = attr.ib(default=None, eq=False)
    #: C{identify(method, path, body)}: the identity a request's fault is
    #: drawn for (default: L{request_identity}).  Requests with the same
    #: identity are occurrences of one request (a retry is the next one).
    identify: Callable[[str, str, bytes], str] | None = attr.ib(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.rate, int | float) or not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be a number from 0 to 1, not {self.rate!r}")
        if not self.kinds:
            raise ValueError("kinds must name at least one fault")
        unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")

    def identity(self, method: str, path: str, body: bytes = b"") -> str:
        """The identity of a request (C{identify}'s, or L{request_identity})."""
        if self.identify is not None:
            return self.identify(method, path, body)
        return request_identity(method, path, body)

    def fault_for(self, n: int, method: str = "GET", path: str = "/", body: bytes = b"") -> str | None:
        """
        The fault for occurrence I{n} (0 the first time) of this request
        (C{None}: forward it untouched).
        """
        return self.fault_of(self.identity(method, path, body), n, method, path)

    def fault_of(self, identity: str, n: int, method: str, path: str) -> str | None:
        """The fault for occurrence I{n} of the request whose identity is I{identity}."""
        if self.applies is not None and not self.applies(method, path):
            return None
        rng = random.Random(f"{self.seed}\n{identity}\n{n}")
        faulted = rng.random() < self.rate
        kind = rng.choice(self.kinds)
        return kind if faulted else None


@attr.s(auto_attribs=True)
class ProxiedRequest:
    """
    One request through a L{FaultProxy}.
    """

    #: its number in arrival order (0 for the first the proxy received).
    n: int
    #: e.g. C{"POST"}.
    method: str
    #: the path with its query string.
    path: str
    #: the fault injected, or C{None}.
    fault: str | None
    #: when it arrived (the reactor's C{seconds()}).
    received: float
    #: the request's body (for a test to tell requests apart).
    body: bytes = attr.ib(default=b"", repr=False)
    #: Zaqar's status code, or C{None} when the request
    #: was not forwarded or got no answer.
    upstream_status: int | None = None
    #: its identity (see L{FaultSchedule.identity}).
    identity: str = attr.ib(default="", repr=False)
    #: how many requests of the same identity came before it.
    occurrence: int = 0

    @property
    def forwarded(self) -> bool:
        """Whether Zaqar answered it (so it may have taken effect)."""
        return self.upstream_status is not None


@attr.s(frozen=True, auto_attribs=True)
class _Response:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def replace(self, *, headers: list[tuple[bytes, bytes]] | None = None, body: bytes | None = None) -> _Response:
        return _Response(
            self.status, self.reason, self.headers if headers is None else headers,
            self.body if body is None else body,
        )

    def head(self) -> bytes:
        lines = [b"HTTP/1.1 %d %s" % (self.status, self.reason)]
        lines += [k + b": " + v for k, v in self.headers if k.lower() not in _HOP_BY_HOP]
        lines += [b"Content-Length: %d" % (len(self.body),), b"Connection: close"]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def bytes(self) -> bytes:
        return self.head() + self.body


def _local(status: int, reason: bytes, content_type: bytes, body: bytes) -> _Response:
    return _Response(status, reason, [(b"Content-Type", content_type)], body)


def _dechunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        data = rest[size + 2 :]
    return b"".join(out)


def parse_response(raw: bytes) -> _Response | None:
    """An HTTP/1.x response read until the server closed; None if it is not one."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    headers = []
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        headers.append((key.strip(), value.strip()))
    response = _Response(int(parts[1]), parts[2] if len(parts) > 2 else b"", headers, body)
    if (response.header(b"transfer-encoding") or b"").lower() == b"chunked":
        return response.replace(body=_dechunk(body))
    length = response.header(b"content-length")
    if length is not None and length.isdigit():
        return response.replace(body=body[: int(length)])
    return response


class _Upstream(Protocol):
    """Sends one request to Zaqar and collects its answer until Zaqar closes."""

    def __init__(self, request: bytes, done: Callable[[bytes | None], None]) -> None:
        self.request = request
        self.done: Callable[[bytes | None], None] | None = done
        self.chunks: list[bytes] = []

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.finish(b"".join(self.chunks) or None)

    def finish(self, raw: bytes | None) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(raw)


class _UpstreamFactory(ClientFactory):
    def __init__(self, request: bytes, done: Callable[[bytes | None], None]) -> None:
        self.request = request
        self.done = done
        self.protocol_instance: _Upstream | None = None

    def buildProtocol(self, addr: Any) -> _Upstream:
        self.protocol_instance = _Upstream(self.request, self.done)
        return self.protocol_instance

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.done(None)


class _ProxyProtocol(Protocol):
    """The client's side of one proxied request."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.buffer = b""
        self.record: ProxiedRequest | None = None
        self.gone = False
        self.upstream: _UpstreamFactory | None = None
        self.pending: list[Any] = []

    def dataReceived(self, data: bytes) -> None:
        if self.record is not None:
            return  # one request per connection; anything after it is ignored
        self.buffer += data
        head, sep, body = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.split(b"\r\n")
        try:
            method, target, _ = lines[0].decode("latin-1").split(" ", 2)
        except ValueError:
            self.respond(_local(400, b"Bad Request", b"text/plain", b"bad request line\n"))
            return
        headers = [line.partition(b":") for line in lines[1:]]
        names = {k.strip().lower(): v.strip() for k, _, v in headers}
        if names.get(b"transfer-encoding", b"").lower() == b"chunked":
            self.respond(_local(411, b"Length Required", b"text/plain", b"chunked requests are not proxied\n"))
            return
        length = int(names.get(b"content-length", b"0") or b"0")
        if len(body) < length:
            return
        body = body[:length]
        self.record = self.proxy.record(method, target, body)
        request = [lines[0]]
        request += [k + b":" + v for k, _, v in headers if k.strip().lower() not in (b"connection", b"keep-alive")]
        request.append(b"Connection: close")
        self.start(b"\r\n".join(request) + b"\r\n\r\n" + body)

    def start(self, request: bytes) -> None:
        record = self.record
        assert record is not None and self.transport is not None
        fault = record.fault
        if fault == "refused":
            self.reset()
        elif fault == "reset_before":
            self.transport.loseConnection()
        elif fault == "unavailable":
            self.respond(_local(503, b"Service Unavailable", b"application/json; charset=UTF-8", _UNAVAILABLE_BODY))
        elif fault == "bad_gateway_html":
            self.respond(_local(502, b"Bad Gateway", b"text/html", _BAD_GATEWAY_BODY))
        else:
            self.upstream = _UpstreamFactory(request, self.answered)
            self.proxy.reactor.connectTCP(
                self.proxy.upstream_host, self.proxy.upstream_port, self.upstream, timeout=10
            )

    def answered(self, raw: bytes | None) -> None:
        record = self.record
        assert record is not None
        response = parse_response(raw) if raw is not None else None
        if response is None:
            self.reset()  # upstream down or garbled: as a proxy in front of it would
            return
        record.upstream_status = response.status
        if self.gone:
            return
        fault = record.fault
        if fault == "reset_after":
            self.reset()
        elif fault == "reset_mid_body":
            self.write(response.head() + response.body[: len(response.body) // 2])
            self.reset()
        elif fault == "stall":
            if self.proxy.stall_limit is not None:
                self.pending.append(self.proxy.reactor.callLater(self.proxy.stall_limit, self.reset))
        elif fault == "trickle":
            self.trickle(response.bytes())
        elif fault == "truncated_json":
            self.respond(response.replace(body=response.body[: len(response.body) // 2]))
        elif fault == "wrong_content_type":
            headers = [(k, v) for k, v in response.headers if k.lower() != b"content-type"]
            self.respond(response.replace(headers=[*headers, (b"Content-Type", b"text/html")]))
        else:
            self.respond(response)

    def trickle(self, data: bytes) -> None:
        if self.gone:
            return
        if not data:
            assert self.transport is not None
            self.transport.loseConnection()
            return
        self.write(data[: self.proxy.trickle_bytes])
        rest = data[self.proxy.trickle_bytes :]
        self.pending.append(self.proxy.reactor.callLater(self.proxy.trickle_interval, self.trickle, rest))

    def write(self, data: bytes) -> None:
        if not self.gone:
            assert self.transport is not None
            self.transport.write(data)

    def respond(self, response: _Response) -> None:
        if not self.gone:
            assert self.transport is not None
            self.transport.write(response.bytes())
            self.transport.loseConnection()

    def reset(self) -> None:
        """Close with a TCP reset (linger 0) where the transport has a socket."""
        if self.gone:
            return
        assert self.transport is not None
        handle = getattr(self.transport, "getHandle", None)
        sock = handle() if handle is not None else None
        if isinstance(sock, socket.socket):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abortConnection()  # type: ignore[attr-defined]  # a TCP transport (ITCPTransport)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.gone = True
        for call in self.pending:
            if call.active():
                call.cancel()
        self.proxy.connections.discard(self)


class _ProxyFactory(Factory):
    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy

    def buildProtocol(self, addr: Any) -> _ProxyProtocol:
        protocol = _ProxyProtocol(self.proxy)
        self.proxy.connections.add(protocol)
        return protocol


class FaultProxy:
    """
    An HTTP proxy in front of a real Zaqar that injects the faults its
    L{FaultSchedule} picks (see the module docstring for each kind).
    """

    def __init__(
        self,
        upstream: str,
        schedule: FaultSchedule,
        reactor: Any = None,
        *,
        trickle_bytes: int = 64,
        trickle_interval: float = 0.02,
        stall_limit: float | None = 120.0,
        clock: Callable[[], float] | None = None,
        log_limit: int | None = None,
    ) -> None:
        """
        @param upstream: Zaqar's URL, C{http://HOST:PORT} (HTTPS is not proxied).
        @param reactor: provides C{IReactorTCP} and C{IReactorTime}
            (the global reactor when omitted).
        @param trickle_bytes: bytes per write of a C{trickle}.
        @param trickle_interval: seconds between the writes of a C{trickle}.
        @param stall_limit: seconds after which a C{stall} resets the
            connection if the client has not given up (C{None}: never).
        @param clock: what L{ProxiedRequest.received} is read from
            (default: the reactor's C{seconds}).
        @param log_limit: keep only the last this many requests in L{log}
            (for long runs); L{counts} and L{received} still count all.
        @raise ValueError: I{upstream} is not an C{http://HOST:PORT} URL.
        """
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://HOST:PORT, not {upstream!r}")
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        #: The host of the Zaqar requests are forwarded to.
        self.upstream_host: str = parts.hostname
        #: Its port.
        self.upstream_port: int = parts.port
        #: the L{FaultSchedule}; may be replaced at any time
        #: (e.g. with C{rate=0} to let a test settle).
        self.schedule = schedule
        #: The reactor connections and timers run on.
        self.reactor = reactor
        #: Bytes per write of a C{trickle}.
        self.trickle_bytes = trickle_bytes
        #: Seconds between the writes of a C{trickle}.
        self.trickle_interval = trickle_interval
        #: Seconds after which a C{stall} resets the connection (C{None}: never).
        self.stall_limit = stall_limit
        #: What L{ProxiedRequest.received} is read from.
        self.clock = clock or reactor.seconds
        #: every L{ProxiedRequest}, in the order they arrived.
        self.log: list[ProxiedRequest] = []
        #: How many requests L{log} keeps (C{None}: all).
        self.log_limit = log_limit
        #: how many requests have arrived
        self.received = 0
        self._counts: Counter[str] = Counter()
        # occurrences so far, by a digest of the identity
        self._occurrences: Counter[bytes] = Counter()
        #: The client connections open now.
        self.connections: set[_ProxyProtocol] = set()
        #: The protocol factory L{listen} listens with.
        self.factory = _ProxyFactory(self)
        #: The listening port once L{listen} ran, else C{None}.
        self.port: IListeningPort | None = None

    def record(self, method: str, target: str, body: bytes) -> ProxiedRequest:
        """Number, fault and record a request that has arrived."""
        n = self.received
        self.received += 1
        schedule = self.schedule
        identity = schedule.identity(method, target, body)
        key = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).digest()[:16]
        occurrence = self._occurrences[key]
        self._occurrences[key] += 1
        fault = schedule.fault_of(identity, occurrence, method, target)
        entry = ProxiedRequest(n, method, target, fault, self.clock(), body, identity=identity,
                               occurrence=occurrence)
        self.log.append(entry)
        if self.log_limit is not None and len(self.log) > self.log_limit:
            del self.log[: len(self.log) - self.log_limit]
        if fault is not None:
            self._counts[fault] += 1
            log.info("fault {fault} on request {n} (occurrence {occurrence} of it): {method} {path}",
                     fault=fault, n=n, occurrence=occurrence, method=method, path=target)
        return entry

    def listen(self, port: int = 0, interface: str = "127.0.0.1") -> IListeningPort:
        """Listen (on a free loopback port by default); L{url} is then set."""
        listening: IListeningPort = self.reactor.listenTCP(port, self.factory, interface=interface)
        self.port = listening
        return listening

    @property
    def url(self) -> str:
        """C{http://127.0.0.1:PORT}, once listening."""
        if self.port is None:
            raise RuntimeError("the proxy is not listening; call listen() first")
        address: Any = self.port.getHost()
        return f"http://{address.host}:{address.port}"

    def faults(self) -> list[ProxiedRequest]:
        """The requests in L{log} a fault was injected into."""
        return [entry for entry in self.log if entry.fault is not None]

    def counts(self) -> Counter[str]:
        """How many of each fault were injected (all of them, whatever C{log_limit})."""
        return Counter(self._counts)

    def requests(self, method: str | None = None, contains: str = "") -> Iterable[ProxiedRequest]:
        """The recorded requests with this method (any if None) whose path contains I{contains}."""
        return [e for e in self.log if (method is None or e.method == method) and contains in e.path]

    def stop(self) -> Deferred[None]:
        """Stop listening and reset every open connection; fires when stopped listening."""
        for protocol in list(self.connections):
            protocol.reset()
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        stopped: Deferred[None] = maybeDeferred(port.stopListening)  # type: ignore[call-overload]
        return stopped
