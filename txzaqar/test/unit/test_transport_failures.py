"""
Unit tests of L{txzaqar.http._transport_failures}: every exception Twisted's
HTTP client can fail a request with becomes a typed error that says in
one line what happened and whether the request may have reached Zaqar
(a table: exception in, class, not-sent flag and message out), through a
fake agent and through Twisted's real L{Agent} on a memory reactor.
"""

from __future__ import annotations

import pickle
from typing import Any

import attr
from OpenSSL import SSL
from service_identity.exceptions import DNSMismatch, VerificationError
from service_identity.hazmat import DNS_ID
from twisted.internet import error as ierror
from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError
from twisted.internet.interfaces import (
    IHostnameResolver,
    IHostResolution,
    IReactorPluggableNameResolver,
    IResolutionReceiver,
)
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import _newclient as newclient
from twisted.web.client import Agent
from twisted.web.error import SchemeNotSupported
from zope.interface import implementer

from txzaqar import errors
from txzaqar.auth import NoAuth
from txzaqar.http._transport_failures import BEFORE_SENDING, TABLE, describe, read_body, transport_error
from txzaqar.http.connection import Connection
from txzaqar.test.helpers.connection import CannedAgent, json_response
from txzaqar.testing.fixed_auth import FixedHeadersAuth

URL = "http://zaqar.test:8888"


def wrapped(wrapper: type[Exception], *causes: BaseException) -> Exception:
    return wrapper([Failure(c) for c in causes])


def ssl_error(reason: str) -> SSL.Error:
    return SSL.Error([("SSL routines", "", reason)])


def hostname_mismatch() -> VerificationError:
    return VerificationError(errors=[DNSMismatch(mismatched_id=DNS_ID("zaqar.test"))])


#: (row name, exception raised by the agent, error class, not_sent, words the description must hold)
CASES: list[tuple[str, BaseException, type[errors.ZaqarError], bool, tuple[str, ...]]] = [
    ("dns", ierror.DNSLookupError("Couldn't find the hostname 'zaqar.test'"), errors.ConnectionFailed, True,
     ("cannot resolve", "'zaqar.test'")),
    ("dns", ierror.DNSLookupError("no results for hostname lookup: zaqar.test"), errors.ConnectionFailed, True,
     ("cannot resolve", "'zaqar.test'")),
    ("connect-timeout", ierror.TimeoutError(), errors.RequestTimedOut, True, ("no TCP connection", "zaqar.test:8888")),
    ("connect-timeout", ierror.TCPTimedOutError(), errors.RequestTimedOut, True, ("no TCP connection",)),
    ("refused", ierror.ConnectionRefusedError(), errors.ConnectionFailed, True,
     ("nothing listens on zaqar.test:8888", "refused")),
    ("no-route", ierror.NoRouteError(), errors.ConnectionFailed, True, ("unreachable",)),
    ("no-route", ierror.UnknownHostError(), errors.ConnectionFailed, True, ("unreachable",)),
    ("connect", ierror.ConnectBindError(), errors.ConnectionFailed, True, ("could not connect", "ConnectBindError")),
    ("connect", ierror.ConnectingCancelledError(IPv4Address("TCP", "10.0.0.1", 8888)), errors.ConnectionFailed,
     True, ("could not connect", "ConnectingCancelledError")),
    ("connect", ierror.NoProtocol(), errors.ConnectionFailed, True, ("could not connect",)),
    ("connect", ierror.SSLError(), errors.ConnectionFailed, True, ("could not connect",)),
    ("pooled-connection-unusable", newclient.RequestNotSent(), errors.ConnectionFailed, True,
     ("closed before the request was written",)),
    ("scheme", SchemeNotSupported("Unsupported scheme: b'ftp'"), errors.ClientValidationError, True,
     ("only http and https",)),
    ("url", ValueError("invalid hostname: zaqar..test"), errors.ClientValidationError, True,
     ("not a usable URL", "invalid hostname")),
    ("hostname-mismatch", wrapped(newclient.ResponseNeverReceived, hostname_mismatch()),
     errors.CertificateVerificationFailed, True, ("not for 'zaqar.test'", "(hostname mismatch: DNSMismatch)")),
    ("certificate", wrapped(newclient.ResponseNeverReceived, ssl_error("certificate verify failed")),
     errors.CertificateVerificationFailed, True, ("does not verify", "(certificate verify failed: unknown", "cacert")),
    ("certificate", wrapped(newclient.RequestTransmissionFailed, ssl_error("certificate verify failed")),
     errors.CertificateVerificationFailed, True, ("does not verify",)),
    ("certificate", wrapped(newclient.ResponseNeverReceived, ierror.ConnectionLost(),
                            ssl_error("certificate verify failed")),
     errors.CertificateVerificationFailed, True, ("does not verify",)),
    ("tls", wrapped(newclient.ResponseNeverReceived, ssl_error("tlsv13 alert certificate required")),
     errors.ConnectionFailed, False, ("TLS connection", "certificate required")),
    ("tls", wrapped(newclient.ResponseFailed, ssl_error("wrong version number")), errors.ConnectionFailed, False,
     ("TLS connection", "wrong version number")),
    # an empty reason tuple is skipped
    ("tls", wrapped(newclient.ResponseFailed, SSL.Error([(), ("SSL routines", "", "bad record mac")])),
     errors.ConnectionFailed, False, ("failed (bad record mac)",)),
    ("not-http", wrapped(newclient.ResponseFailed, newclient.ParseError("wrong number of parts", b"\x16\x03")),
     errors.MalformedResponse, False, ("not HTTP", "(wrong number of parts)")),
    ("not-http", wrapped(newclient.ResponseNeverReceived, newclient.BadResponseVersion("bad version", b"X")),
     errors.MalformedResponse, False, ("not HTTP",)),
    ("aborted", wrapped(newclient.ResponseNeverReceived, newclient.ConnectionAborted()), errors.ConnectionFailed,
     False, ("aborted",)),
    ("aborted", wrapped(newclient.ResponseFailed, ierror.ConnectionAborted()), errors.ConnectionFailed, False,
     ("aborted",)),
    ("reset", wrapped(newclient.ResponseNeverReceived, ierror.ConnectionLost("Connection reset by peer")),
     errors.ConnectionFailed, False, ("reset", "zaqar.test:8888")),
    ("reset", wrapped(newclient.RequestTransmissionFailed, ierror.ConnectionLost()), errors.ConnectionFailed,
     False, ("reset",)),
    ("reset", ierror.ConnectionLost(), errors.ConnectionFailed, False, ("reset",)),
    ("closed", wrapped(newclient.ResponseNeverReceived, ierror.ConnectionDone()), errors.ConnectionFailed, False,
     ("closed the connection",)),
    ("closed", ierror.ConnectionDone(), errors.ConnectionFailed, False, ("closed the connection",)),
    ("body-length", wrapped(newclient.RequestGenerationFailed, newclient.WrongBodyLength("too short")),
     errors.ConnectionFailed, False, ("could not be written", "WrongBodyLength")),
    ("body-length", wrapped(newclient.RequestGenerationFailed, newclient.ExcessWrite()), errors.ConnectionFailed,
     False, ("could not be written",)),
    ("body-length", wrapped(newclient.RequestGenerationFailed, newclient.BadHeaders("two Host headers")),
     errors.ConnectionFailed, False, ("could not be written",)),
    # a refused connection handed back by a pool that had written the request: it may have gone
    ("refused", wrapped(newclient.ResponseNeverReceived, ierror.ConnectionRefusedError()), errors.ConnectionFailed,
     False, ("nothing listens",)),
    # nothing in the table: a wrapper of something else, and something else
    ("", wrapped(newclient.ResponseNeverReceived, KeyError("odd")), errors.ConnectionFailed, False,
     ("no response", "odd")),
    ("", wrapped(newclient.ResponseFailed, KeyError("odd")), errors.ConnectionFailed, False, ("cut short",)),
    ("", RuntimeError("surprise\non two lines"), errors.ConnectionFailed, False,
     ("unexpected RuntimeError", "surprise on two lines")),
]


class TableTests(SynchronousTestCase):
    """Each case through L{Connection} over an agent that fails with it."""

    def request(self, exception: BaseException, method: str = "GET") -> errors.ZaqarError:
        agent = CannedAgent(exception)
        conn = Connection(agent, Clock(), NoAuth("p"), url=URL, retries=0)
        d = conn.request(method, "queues/q/stats")
        return self.failureResultOf(d, errors.ZaqarError).value

    def test_every_case(self) -> None:
        for row, exception, cls, not_sent, words in CASES:
            with self.subTest(row=row, exception=repr(exception)):
                error = self.request(exception)
                self.assertIs(type(error), cls)
                self.assertEqual((error.not_sent, error.may_have_been_sent), (not_sent, not not_sent))
                text = str(error)
                self.assertNotIn("\n", text)
                self.assertNotIn("(None)", text)
                for word in words:
                    self.assertIn(word, text)
                self.assertEqual(error.code, None)
                if cls is not errors.ClientValidationError:
                    self.assertIn("GET http://zaqar.test:8888/v2/queues/q/stats", text)

    def test_every_row_has_a_case(self) -> None:
        self.assertEqual({row.name for row in TABLE} - {case[0] for case in CASES}, set())

    def test_pure_function(self) -> None:
        error = transport_error(ierror.DNSLookupError("x"), "POST", "https://[::1]:8888/v2/queues")
        self.assertEqual(str(error), "ConnectionFailed: Name lookup failed - POST https://[::1]:8888/v2/queues: "
                                     "cannot resolve the host '::1' (check the URL and DNS)")
        same = errors.NotFound("gone")
        self.assertIs(transport_error(same, "GET", URL), same)

    def test_errors_pickle_and_repr(self) -> None:
        for _, exception, _, not_sent, _ in CASES:
            error = self.request(exception)
            if isinstance(error, errors.ClientValidationError):
                continue  # its constructor takes (field, description), as before
            copy = pickle.loads(pickle.dumps(error))
            self.assertEqual((type(copy), str(copy), copy.not_sent), (type(error), str(error), not_sent))
            self.assertIn(type(error).__name__ + "(", repr(error))


class HelperTests(SynchronousTestCase):
    """The pieces the table is made of: URL parts, causes in one line, frozen rows, body reading."""

    def test_unparsable_url(self) -> None:
        """A URL that C{urlsplit} refuses is named whole, not lost in an exception."""
        url = "http://[zaqar.test:8888/v2/queues"
        self.assertIn(f"cannot resolve the host {url!r}", str(transport_error(ierror.DNSLookupError(), "GET", url)))
        self.assertIn(f"nothing listens on {url} ", str(transport_error(ierror.ConnectionRefusedError(), "GET", url)))

    def test_describe(self) -> None:
        """A wrapper is described by its causes; anything else by its own text, or its type's name."""
        cut = wrapped(newclient.ResponseFailed, ierror.ConnectionLost("reset by peer"), ierror.ConnectionDone())
        self.assertEqual(describe(cut), "Connection to the other side was lost in a non-clean fashion: reset by "
                                        "peer.; Connection was closed cleanly.")
        self.assertEqual(describe(RuntimeError("two\nlines")), "two lines")
        self.assertEqual(describe(ValueError()), "ValueError")

    def test_before_sending_sent_nothing(self) -> None:
        """Every row of L{BEFORE_SENDING} says what its docstring does: nothing was sent."""
        self.assertEqual([row.name for row in BEFORE_SENDING if not row.not_sent], [])

    def test_rows_are_frozen(self) -> None:
        self.assertRaises(attr.exceptions.FrozenInstanceError, setattr, TABLE[0], "not_sent", False)

    def test_cancelling_a_body_aborts_the_connection(self) -> None:
        """Cancelling L{read_body} aborts the connection (so it goes back to no pool) and fails it."""
        transport = StringTransport()

        class Response:
            def deliverBody(self, protocol: Any) -> None:
                protocol.makeConnection(transport)

        d = read_body(Response())
        d.cancel()
        self.assertTrue(transport.disconnected)
        self.failureResultOf(d, CancelledError)


class RetryRulesTests(SynchronousTestCase):
    """Not-sent failures are replayed for any method; in-flight ones only for idempotent requests."""

    def attempts(self, exception: BaseException, method: str) -> int:
        agent = CannedAgent(*[exception] * 3)
        clock = Clock()
        conn = Connection(agent, clock, NoAuth("p"), url=URL, retries=2)
        d = conn.request(method, "queues/q/messages", body={"messages": [{"body": 1}]} if method == "POST" else None)
        clock.pump([1] * 10)
        self.failureResultOf(d, errors.ZaqarError)
        return len(agent.requests)

    def test_retries(self) -> None:
        for _, exception, cls, not_sent, _ in CASES:
            with self.subTest(exception=repr(exception)):
                never = cls in (errors.ClientValidationError, errors.CertificateVerificationFailed,
                                errors.MalformedResponse)
                self.assertEqual(self.attempts(exception, "POST"), 1 if never or not not_sent else 3)
                self.assertEqual(self.attempts(exception, "GET"), 1 if never else 3)


@implementer(IHostnameResolver)
class HangingResolver:
    """A resolver that never answers (as a slow DNS server)."""

    def resolveHostName(self, resolutionReceiver: IResolutionReceiver, hostName: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> IHostResolution:
        resolutionReceiver.resolutionBegan(None)  # type: ignore[arg-type]
        return None  # type: ignore[return-value]


@implementer(IHostnameResolver)
class EmptyResolver:
    """A resolver that finds no address (NXDOMAIN)."""

    def resolveHostName(self, resolutionReceiver: IResolutionReceiver, hostName: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> IHostResolution:
        resolutionReceiver.resolutionBegan(None)  # type: ignore[arg-type]
        resolutionReceiver.resolutionComplete()
        return None  # type: ignore[return-value]


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        pass


@implementer(IHostnameResolver)
class LiteralResolver:
    """Resolves an IP address literal to itself at once (the tests' URLs use 127.0.0.1)."""

    def resolveHostName(self, resolutionReceiver: IResolutionReceiver, hostName: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> IHostResolution:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        resolutionReceiver.addressResolved(IPv4Address("TCP", hostName, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


@implementer(IReactorPluggableNameResolver)
class ResolvingMemoryReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} with a pluggable name resolver, as Twisted 25's
    has and 24.7's (the floor, C{tox -e oldest}) lacks: without one,
    HostnameEndpoint resolves in a thread, which a memory reactor never runs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.nameResolver: IHostnameResolver = LiteralResolver()

    def installNameResolver(self, resolver: IHostnameResolver) -> IHostnameResolver:
        old, self.nameResolver = self.nameResolver, resolver
        return old


class RealAgentTests(SynchronousTestCase):
    """
    Twisted's own L{Agent} on a memory reactor: what its endpoint really
    fails a request with, cancelled or not.
    """

    def connection(self, resolver: Any = None, timeout: float = 30.0, retries: int = 0,
                   url: str = "http://127.0.0.1:8888") -> tuple[Connection, MemoryReactorClock]:
        reactor = ResolvingMemoryReactor()
        if resolver is not None:
            reactor.installNameResolver(resolver)
        agent = Agent(reactor)
        return Connection(agent, reactor, NoAuth("p"), url=url, timeout=timeout, retries=retries), reactor

    def test_unresolvable_host(self) -> None:
        conn, _ = self.connection(EmptyResolver(), url="http://no-such-host.invalid:8888")
        error = self.failureResultOf(conn.get("queues"), errors.ConnectionFailed).value
        self.assertTrue(error.not_sent)
        self.assertIn("cannot resolve the host 'no-such-host.invalid'", str(error))

    def test_timeout_while_resolving(self) -> None:
        """HostnameEndpoint turns the cancelled lookup into DNSLookupError: still a timeout."""
        conn, reactor = self.connection(HangingResolver(), timeout=0.5)
        d = conn.post("queues/q/messages", body={"messages": []})
        reactor.advance(1)
        error = self.failureResultOf(d, errors.RequestTimedOut).value
        self.assertTrue(error.not_sent)
        self.assertIn("no connection in 0.5s", str(error))

    def test_timeout_while_connecting_is_retried_even_for_post(self) -> None:
        """A connection attempt cancelled fails with ConnectingCancelledError: a timeout, not sent, retried."""
        conn, reactor = self.connection(timeout=0.001, retries=2)
        d = conn.post("queues/q/messages", body={"messages": []})
        reactor.pump([0.01] * 100)
        error = self.failureResultOf(d, errors.RequestTimedOut).value
        self.assertTrue(error.not_sent)
        self.assertEqual(len(reactor.tcpClients), 3)  # the first attempt and two retries

    def test_close_while_resolving(self) -> None:
        """close() during a lookup: one error saying the client was closed, not a DNSLookupError for an IP."""
        conn, _ = self.connection(HangingResolver())
        d = conn.post("queues/q/messages", body={"messages": []})
        self.successResultOf(conn.close())
        error = self.failureResultOf(d, errors.ClientClosed).value
        self.assertTrue(error.not_sent)
        self.assertEqual(str(error), "ClientClosed: Client closed - POST queues/q/messages: close() was called "
                                     "before it was sent")

    def test_close_while_connecting(self) -> None:
        conn, reactor = self.connection()
        d = conn.get("queues")
        self.assertEqual(len(reactor.tcpClients), 1)
        self.successResultOf(conn.close())
        self.assertTrue(self.failureResultOf(d, errors.ClientClosed).value.not_sent)

    def test_refused(self) -> None:
        conn, reactor = self.connection()
        d = conn.get("queues")
        factory = reactor.tcpClients[0][2]
        factory.clientConnectionFailed(reactor.connectors[0], Failure(ierror.ConnectionRefusedError()))
        reactor.advance(1)  # HostnameEndpoint's next attempt finds no address left
        error = self.failureResultOf(d, errors.ConnectionFailed).value
        self.assertTrue(error.not_sent)
        self.assertIn("nothing listens on 127.0.0.1:8888", str(error))

    def test_scheme_and_bad_url(self) -> None:
        for url in ("ftp://127.0.0.1:21", "http://127.0.0.1:notaport"):
            with self.subTest(url=url):
                conn, _ = self.connection(url=url)
                error = self.failureResultOf(conn.get("queues"), errors.ClientValidationError).value
                self.assertEqual(error.field, "url")


class CloseInFlightTests(SynchronousTestCase):
    def test_close_after_sending(self) -> None:
        agent = CannedAgent("hang-like-agent")
        conn = Connection(agent, Clock(), NoAuth("p"), url=URL)
        d = conn.post("queues/q/messages", body={"messages": []})
        self.successResultOf(conn.close())
        error = self.failureResultOf(d, errors.ClientClosed).value
        self.assertFalse(error.not_sent)
        self.assertIn("may have reached Zaqar", str(error))
        self.assertIsInstance(error, errors.ConnectionFailed)  # as before close() had its own class

    def test_request_after_close(self) -> None:
        conn = Connection(CannedAgent(), Clock(), NoAuth("p"), url=URL)
        self.successResultOf(conn.close())
        self.assertTrue(self.failureResultOf(conn.get("queues"), errors.ClientClosed).value.not_sent)

    def test_caller_cancel_is_not_retried(self) -> None:
        """A caller's own cancel() fails with CancelledError at once, whatever Twisted made of it."""
        agent = CannedAgent("hang-dns", json_response(200, {}))
        clock = Clock()
        conn = Connection(agent, clock, NoAuth("p"), url=URL, retries=2)
        d = conn.get("queues")
        d.cancel()
        clock.pump([1] * 5)
        self.failureResultOf(d, CancelledError)
        self.assertEqual(len(agent.requests), 1)


class HeaderEncodingTests(SynchronousTestCase):
    def test_header_that_cannot_be_sent(self) -> None:
        """Refused before sending, naming the header: not a raw UnicodeEncodeError, no header injection."""
        for project in ("p\N{SNOWMAN}", "p\r\nX-Roles: admin"):
            with self.subTest(project=project):
                auth = FixedHeadersAuth({"X-Project-ID": project})
                agent = CannedAgent()
                conn = Connection(agent, Clock(), auth, url=URL)
                error = self.failureResultOf(conn.get("queues"), errors.ClientValidationError).value
                self.assertEqual(error.field, "headers")
                self.assertIn("X-Project-ID header", str(error))
                self.assertNotIn(project, str(error))  # a header value may be a secret
                self.assertEqual(agent.requests, [])
