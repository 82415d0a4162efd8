"""
The response parser fuzzed (issue 12): whatever comes back (any status,
headers, bytes, a body cut short, a lying C{Content-Length}, raw bytes
through Twisted's own HTTP parser), L{Connection.request} has a result at
once, and it is a L{Response} (a 2xx, or a status passed as C{ok}) or a
typed L{ZaqarError}: never a raw exception, never a hang.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone, ConnectionLost, ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import Agent, ResponseDone, ResponseFailed, ResponseNeverReceived
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IAgentEndpointFactory, IResponse
from zope.interface import implementer

from txzaqar.auth import NoAuth
from txzaqar.errors import ZaqarError
from txzaqar.http.connection import Connection, Response
from txzaqar.test.helpers.profiles import PROFILE  # noqa: F401 (loads the profile)
from txzaqar.test.helpers.properties import COUNTS

URL = "http://zaqar.test:8888"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

# -- what a response may be made of ---------------------------------------

statuses = st.one_of(st.integers(100, 599), st.sampled_from([200, 201, 204, 400, 401, 404, 500, 502, 503]))

content_types = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/html",
    "text/plain", "application/octet-stream", "", "json", "application/json;;;", "\u00e9/\u00ff",
])


def _json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=12,
    )


def _truncated(value: Any, data: st.DataObject) -> bytes:
    raw = json.dumps(value).encode()
    return raw[:data.draw(st.integers(0, len(raw)))]


html_page = st.builds(
    lambda code: f"<html><head><title>{code} Bad Gateway</title></head><body><h1>nginx</h1></body></html>".encode(),
    st.integers(100, 599),
)
zaqar_errors = st.builds(
    lambda title, description: json.dumps({"title": title, "description": description}).encode(),
    _json_values(), _json_values(),
)
keystone_errors = st.builds(lambda inner: json.dumps({"error": inner}).encode(), _json_values())
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.builds(lambda v: json.dumps(v).encode(), _json_values()),
    html_page,
    zaqar_errors,
    keystone_errors,
    st.sampled_from([b"null", b"NaN", b"[" * 50_000, b'{"a":' * 20_000, b"\xff\xfe{}", b"  \n ",
                     b"{" + b'"k":1,' * 1000, b"x" * 2_000_000]),
)
header_values = st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
ends = st.sampled_from([
    ResponseDone(), PotentialDataLoss(), ResponseFailed([Failure(ConnectionLost())]), ConnectionLost(),
    ConnectionDone(),
])
transport_failures = st.sampled_from([
    ConnectionRefusedError(), ResponseNeverReceived([Failure(ConnectionLost())]),
    ResponseFailed([Failure(ConnectionDone())]), ConnectionLost(),
])


@implementer(IResponse)
class FuzzResponse:
    """An IResponse with any status, headers and body, ending with C{end}."""

    def __init__(self, code: int, headers: list[tuple[str, str]], body: bytes, end: BaseException,
                 length: Any, chunks: int) -> None:
        self.version = (b"HTTP", 1, 1)
        self.code = code
        self.phrase = b"Fuzzed"
        self.headers = Headers()
        for name, value in headers:
            self.headers.addRawHeader(name.encode("utf-8"), value.encode("utf-8"))
        self.length = length
        self.request = None
        self.previousResponse = None
        self._body = body
        self._end = end
        self._chunks = max(1, chunks)

    def deliverBody(self, protocol: Any) -> None:
        protocol.makeConnection(None)
        step = max(1, len(self._body) // self._chunks)
        for start in range(0, len(self._body), step):
            protocol.dataReceived(self._body[start:start + step])
        protocol.connectionLost(Failure(self._end))

    def setPreviousResponse(self, response: Any) -> None:
        pass


@implementer(IAgent)
class FuzzAgent:
    """Answers every request with a fresh response from C{make}, or fails with C{failure}."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.count = 0

    def request(self, method: bytes, uri: bytes, headers: Headers | None = None,
                bodyProducer: Any = None) -> Deferred[Any]:
        self.count += 1
        outcome = self.make()
        if isinstance(outcome, BaseException):
            return fail(outcome)
        return succeed(outcome)


def assert_typed(case: SynchronousTestCase, d: Deferred[Any], ok: tuple[int, ...]) -> str:
    """C{d} has fired with a L{Response} (2xx or in C{ok}) or failed with a L{ZaqarError}."""
    case.assertTrue(d.called, "the request hangs")
    outcome: list[Any] = []
    d.addBoth(outcome.append)
    [result] = outcome
    if isinstance(result, Failure):
        case.assertIsInstance(result.value, ZaqarError, result.getTraceback())
        str(result.value), repr(result.value)  # both render
        return type(result.value).__name__
    case.assertIsInstance(result, Response)
    case.assertTrue(200 <= result.code < 300 or result.code in ok, result.code)
    return "Response"


def fuzz_summary(prefix: str) -> str:
    counts = {k[len(prefix) + 1:]: n for k, n in COUNTS.items() if k.startswith(prefix + " ")}
    return f"{prefix}: {sum(counts.values())} responses, outcomes {dict(sorted(counts.items()))}"


class CannedResponseFuzzTests(SynchronousTestCase):
    """Responses as an agent hands them over, with any content."""

    def tearDown(self) -> None:
        print(fuzz_summary("fuzz"))

    @given(
        method=st.sampled_from(METHODS),
        code=statuses,
        content_type=content_types,
        extra=st.lists(st.tuples(st.sampled_from(["x-openstack-request-id", "content-length", "location",
                                                  "www-authenticate", "x-fuzz"]), header_values),
                       max_size=4),
        body=bodies,
        end=ends,
        length=st.one_of(st.integers(-5, 10**7), st.just("UNKNOWN_LENGTH")),
        chunks=st.integers(1, 5),
        ok=st.sampled_from([(), (404,), (204, 409)]),
        failure=st.one_of(*[st.none()] * 5, transport_failures),
    )
    @example(method="GET", code=200, content_type="application/json", extra=[], body=b"[" * 50_000,
             end=ResponseDone(), length=50_000, chunks=1, ok=(), failure=None)
    @example(method="POST", code=500, content_type="application/json", extra=[], body=b"[" * 50_000,
             end=ResponseDone(), length=50_000, chunks=1, ok=(), failure=None)
    def test_any_response_is_a_response_or_a_typed_error(
        self, method: str, code: int, content_type: str, extra: list[tuple[str, str]], body: bytes,
        end: BaseException, length: Any, chunks: int, ok: tuple[int, ...], failure: BaseException | None,
    ) -> None:
        headers = [("content-type", content_type), *extra]

        def make() -> Any:
            return failure if failure is not None else FuzzResponse(code, headers, body, end, length, chunks)

        clock = Clock()
        agent = FuzzAgent(make)
        conn = Connection(agent, clock, NoAuth("p"), url=URL, retries=2, backoff=0.1)
        d = conn.request(method, "queues/q/messages", body={"x": 1} if method in ("POST", "PUT") else None, ok=ok)
        for _ in range(4):  # the retries' backoff, if any
            clock.advance(10)
        COUNTS["fuzz " + assert_typed(self, d, ok)] += 1
        self.assertLessEqual(agent.count, 3)
        self.assertEqual(clock.getDelayedCalls(), [], "a timer was left behind")


@implementer(IAgentEndpointFactory)
class _WireEndpoints:
    """Every connection goes to an in-memory transport the test feeds raw bytes into."""

    def __init__(self) -> None:
        self.protocols: list[tuple[Any, StringTransport]] = []

    def endpointForURI(self, uri: Any) -> Any:
        endpoints = self

        class Endpoint:
            def connect(self, factory: Any) -> Deferred[Any]:
                protocol = factory.buildProtocol(None)
                transport = StringTransport()
                protocol.makeConnection(transport)
                endpoints.protocols.append((protocol, transport))
                return succeed(protocol)

        return Endpoint()


@st.composite
def raw_responses(draw: st.DrawFn) -> bytes:
    """HTTP/1.x response bytes: mostly well-formed, else mangled, cut anywhere, or noise."""
    mangle = draw(st.sampled_from(["none"] * 6 + ["noise", "version", "header", "cut"]))
    if mangle == "noise":
        return draw(st.binary(max_size=500))
    code = draw(statuses)
    version = b"HTTP/1.1"
    if mangle == "version":
        version = draw(st.sampled_from([b"HTTP/1.0", b"HTTP/2", b"HTTP/1.1x", b"ICY", b""]))
    body = draw(bodies.filter(lambda b: len(b) < 100_000))
    headers = [(b"Content-Type", draw(content_types).encode("utf-8"))]
    framing = draw(st.sampled_from(["length", "length", "chunked", "none", "lying-length", "bad-chunked"]))
    if framing == "length":
        headers.append((b"Content-Length", str(len(body)).encode()))
    elif framing == "lying-length":
        headers.append((b"Content-Length", draw(st.sampled_from([b"-1", b"abc", b"999999", b"0", b"1, 2"]))))
    elif framing in ("chunked", "bad-chunked"):
        headers.append((b"Transfer-Encoding", b"chunked"))
        body = (b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n") if framing == "chunked" else b"zz\r\n" + body
    if mangle == "header":
        headers.append((draw(st.binary(min_size=1, max_size=10)), draw(st.binary(max_size=20))))
    raw = b"%s %d Fuzzed\r\n" % (version, code) + b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n" + body
    if mangle == "cut":
        raw = raw[:draw(st.integers(0, len(raw)))]
    return raw


class WireFuzzTests(SynchronousTestCase):
    """Raw bytes through Twisted's HTTP client parser (a real L{Agent}) into the connection."""

    def tearDown(self) -> None:
        print(fuzz_summary("wire"))

    @given(method=st.sampled_from(METHODS), raw=raw_responses(), pieces=st.integers(1, 4),
           clean=st.booleans())
    def test_any_bytes_are_a_response_or_a_typed_error(self, method: str, raw: bytes, pieces: int,
                                                       clean: bool) -> None:
        reactor = MemoryReactorClock()
        endpoints = _WireEndpoints()
        agent = Agent.usingEndpointFactory(reactor, endpoints)
        conn = Connection(agent, reactor, NoAuth("p"), url=URL, retries=0, timeout=5)
        d = conn.request(method, "queues/q/messages", body={"x": 1} if method in ("POST", "PUT") else None)
        [(protocol, _transport)] = endpoints.protocols
        step = max(1, len(raw) // pieces)
        for start in range(0, len(raw), step):
            if d.called:
                break
            protocol.dataReceived(raw[start:start + step])
        reason = ConnectionDone() if clean else ConnectionLost()
        protocol.connectionLost(Failure(reason))
        COUNTS["wire " + assert_typed(self, d, ())] += 1
        reactor.advance(5)  # nothing left waiting on the timeout either
