"""
Unit tests of L{txzaqar.http.connection} against canned responses: every
transport failure becomes a typed error, nothing hangs, nothing is
replayed that should not be.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseFailed, ResponseNeverReceived
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from zope.interface import implementer
from zope.interface.verify import verifyObject

import txzaqar
from txzaqar import errors
from txzaqar.auth import NoAuth, Token
from txzaqar.errors import AuthenticationFailed, ClientValidationError, IdentityUnavailable
from txzaqar.http.connection import Connection, ZaqarConnectionPool
from txzaqar.interfaces import IAuthenticator, IConnection
from txzaqar.test.helpers.connection import (
    CannedResponse,
    ConnectionTestsMixin,
    HangingBodyResponse,
    json_response,
)
from txzaqar.test.helpers.recording import Recorded
from txzaqar.testing import MEMORY_URL, memory_client


class ResponseTests(ConnectionTestsMixin, SynchronousTestCase):
    def test_interface(self) -> None:
        conn, _, _ = self.connection()
        self.assertTrue(verifyObject(IConnection, conn))
        self.assertTrue(verifyObject(IAuthenticator, NoAuth("p")))
        self.assertTrue(verifyObject(IAuthenticator, Token("t")))

    def test_json_and_headers(self) -> None:
        conn, agent, _ = self.connection(json_response(201, {"ok": 1}, ))
        response = self.successResultOf(conn.post("queues/q/messages", body={"messages": []}))
        self.assertEqual((response.code, response.json), (201, {"ok": 1}))
        method, uri, headers, body = agent.requests[0]
        self.assertEqual((method, uri), (b"POST", b"http://zaqar.test:8888/v2/queues/q/messages"))
        self.assertEqual(headers.getRawHeaders(b"client-id"), [b"5e1c7a4c-3b06-4b6f-8c1f-1f0c6c7f9a10"])
        self.assertEqual(headers.getRawHeaders(b"x-project-id"), [b"proj"])
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertEqual(json.loads(body or b""), {"messages": []})

    def test_query_and_absolute_paths(self) -> None:
        conn, agent, _ = self.connection(json_response(200, {}), CannedResponse(300, b"{}"))
        self.successResultOf(conn.get("queues", params={"limit": 5, "detailed": True, "marker": None,
                                                       "ids": ["a", "b"]}))
        self.successResultOf(conn.get("/", ok=(300,)))
        self.assertEqual(agent.requests[0][1],
                         b"http://zaqar.test:8888/v2/queues?limit=5&detailed=true&ids=a,b")
        self.assertEqual(agent.requests[1][1], b"http://zaqar.test:8888/")

    def test_no_content(self) -> None:
        conn, _, _ = self.connection(CannedResponse(204))
        self.assertIsNone(self.successResultOf(conn.delete("queues/q")).json)

    def test_malformed_json(self) -> None:
        conn, _, _ = self.connection(CannedResponse(200, b'{"messages": [', {"x-openstack-request-id": "req-1"}))
        error = self.failureResultOf(conn.get("queues/q/messages"), errors.MalformedResponse).value
        self.assertEqual((error.code, error.request_id), (200, "req-1"))
        self.assertIn("not JSON", str(error))

    def test_html_from_proxy(self) -> None:
        page = b"<html><body>" + b"Bad gateway " * 100 + b"</body></html>"
        conn, agent, clock = self.connection(CannedResponse(502, page), retries=0)
        error = self.failureResultOf(conn.post("queues/q/claims"), errors.BadGateway).value
        self.assertEqual(error.code, 502)
        self.assertIn("<html>", error.description)
        self.assertLess(len(error.description), 300)  # summarised, not dumped

    def test_truncated_body(self) -> None:
        truncated = Failure(ResponseFailed([Failure(PotentialDataLoss()), Failure(ConnectionRefusedError())]))
        conn, _, _ = self.connection(CannedResponse(200, b'{"a": ', end=truncated))
        self.failureResultOf(conn.get("queues/q"), errors.MalformedResponse)

    def test_unknown_status(self) -> None:
        conn, _, _ = self.connection(json_response(418, {"title": "Teapot", "description": "short"}))
        error = self.failureResultOf(conn.get("queues"), errors.HTTPError).value
        self.assertIs(type(error), errors.HTTPError)
        self.assertEqual(str(error), "HTTPError (418): Teapot - short")

    def test_error_titles(self) -> None:
        conn, _, _ = self.connection(
            json_response(404, {"title": "Not found", "description": "Message m does not exist"}),
            json_response(401, {"error": {"code": 401, "title": "Unauthorized", "message": "need auth"}}),
            CannedResponse(405, b""),
        )
        e1 = self.failureResultOf(conn.get("queues/q/messages/m"), errors.NotFound).value
        self.assertEqual((e1.title, e1.description, e1.code), ("Not found", "Message m does not exist", 404))
        self.assertEqual(str(e1), "NotFound (404): Not found - Message m does not exist")
        e2 = self.failureResultOf(conn.get("queues"), errors.Unauthorized).value
        self.assertEqual((e2.title, e2.description), ("Unauthorized", "need auth"))
        e3 = self.failureResultOf(conn.head("queues/q"), errors.MethodNotAllowed).value
        self.assertEqual(str(e3), "MethodNotAllowed (405): HTTP 405")

    def test_unserialisable_body(self) -> None:
        conn, agent, _ = self.connection()
        self.failureResultOf(conn.post("queues/q/messages", body={"x": object()}),
                             errors.ClientValidationError)
        self.failureResultOf(conn.post("queues/q/messages", body={"x": float("nan")}),
                             errors.ClientValidationError)
        self.assertEqual(agent.requests, [])

    def test_body_sent_as_utf8(self) -> None:
        """A body the connection encodes is compact UTF-8 JSON, not ASCII escapes."""
        conn, agent, _ = self.connection(json_response(201, {}))
        self.successResultOf(conn.post("queues/q/messages", body={"messages": [{"body": "caf\u00e9"}]}))
        self.assertEqual(agent.requests[0][3], '{"messages":[{"body":"caf\u00e9"}]}'.encode())

    def test_authenticator_check_before_sending(self) -> None:
        """An authenticator's C{check} refuses a request before anything is sent."""
        conn, agent, _ = self.connection(auth=RefusingAuth())
        e = self.failureResultOf(conn.get("queues"), errors.ClientValidationError).value
        self.assertEqual(e.field, "path")
        self.assertEqual(agent.requests, [])


class RetryTests(ConnectionTestsMixin, SynchronousTestCase):
    def test_get_retried_on_503_then_succeeds(self) -> None:
        conn, agent, clock = self.connection(
            json_response(503, {"title": "Service temporarily unavailable"}),
            json_response(200, {"ok": True}),
        )
        d = conn.get("queues/q/stats")
        self.assertNoResult(d)
        clock.advance(1)
        self.assertEqual(self.successResultOf(d).json, {"ok": True})
        self.assertEqual(len(agent.requests), 2)

    def test_retries_are_bounded(self) -> None:
        conn, agent, clock = self.connection(*[CannedResponse(500, b"")] * 3)
        d = conn.get("queues")
        clock.pump([1] * 5)
        self.failureResultOf(d, errors.InternalServerError)
        self.assertEqual(len(agent.requests), 3)

    def test_post_never_replayed_after_it_may_have_been_sent(self) -> None:
        conn, agent, clock = self.connection(
            ResponseNeverReceived([Failure(ConnectionRefusedError())]),
            json_response(201, {"resources": []}),
        )
        d = conn.post("queues/q/messages", body={"messages": [{"body": 1}]})
        clock.pump([1] * 5)
        self.failureResultOf(d, errors.ConnectionFailed)
        self.assertEqual(len(agent.requests), 1)

    def test_post_503_not_replayed(self) -> None:
        conn, agent, clock = self.connection(CannedResponse(503, b"{}"), json_response(201, {}))
        d = conn.post("queues/q/messages", body={"messages": [{"body": 1}]})
        clock.pump([1] * 5)
        self.failureResultOf(d, errors.ServiceUnavailable)
        self.assertEqual(len(agent.requests), 1)

    def test_refused_connection_retried_even_for_post(self) -> None:
        """Nothing reached the server, so replaying the same bytes is safe."""
        conn, agent, clock = self.connection(ConnectionRefusedError(), json_response(201, {"r": 1}))
        d = conn.post("queues/q/messages", body={"messages": [{"body": 1}]})
        clock.pump([1] * 5)
        self.assertEqual(self.successResultOf(d).json, {"r": 1})
        self.assertEqual(agent.requests[0][3], agent.requests[1][3])

    def test_refused_connection_typed(self) -> None:
        conn, _, clock = self.connection(*[ConnectionRefusedError()] * 3)
        d = conn.get("ping")
        clock.pump([1] * 5)
        error = self.failureResultOf(d, errors.ConnectionFailed).value
        self.assertIsNone(error.code)

    def test_backoff_doubles(self) -> None:
        """The first retry waits C{backoff}, the second twice as long (times 0.5 to 1.5 at random)."""
        conn, agent, clock = self.connection(*[CannedResponse(503, b"")] * 3)
        conn.backoff = 0.5
        conn._random = FixedRandom(0.5, 0.25)  # factors 1.0, then 0.75: waits of 0.5 s and 0.75 s
        d = conn.get("queues")
        self.assertEqual(len(agent.requests), 1)
        for step, requests in ((0.25, 1), (0.25, 2), (0.5, 2), (0.25, 3)):
            clock.advance(step)
            self.assertEqual(len(agent.requests), requests, f"at {clock.seconds()} s")
        self.failureResultOf(d, errors.ServiceUnavailable)

    def test_post_retried_while_identity_is_away(self) -> None:
        """Identity unavailable: Zaqar saw nothing, so even a POST is tried again."""
        auth = AwayIdentity()
        conn, agent, clock = self.connection(json_response(201, {"r": 1}), auth=auth)
        d = conn.post("queues/q/messages", body={"messages": [{"body": 1}]})
        clock.pump([1] * 5)
        self.assertEqual(self.successResultOf(d).json, {"r": 1})
        self.assertEqual((auth.calls, len(agent.requests)), (2, 1))

    def test_timeout(self) -> None:
        conn, agent, clock = self.connection("hang", retries=0)
        d = conn.get("queues")
        clock.advance(29)
        self.assertNoResult(d)
        clock.advance(2)
        self.failureResultOf(d, errors.RequestTimedOut)
        self.assertEqual(agent.cancelled, agent.pending)  # the request itself was cancelled

    def test_timeout_while_reading_the_body_is_not_replayed(self) -> None:
        """Headers came, the body did not: the request reached Zaqar, so a POST is not tried again."""
        conn, agent, clock = self.connection(HangingBodyResponse(), json_response(201, {}))
        d = conn.post("queues/q/messages", body={"messages": [{"body": 1}]})
        clock.advance(30)
        error = self.failureResultOf(d, errors.RequestTimedOut).value
        self.assertEqual((error.not_sent, len(agent.requests)), (False, 1))
        self.assertIn("no complete response", str(error))

    def test_timeout_of_twisted_agent_is_a_timeout(self) -> None:
        """
        Twisted's agent fails a cancelled request with ResponseNeverReceived
        around a CancelledError: still a timeout, not a connection failure.
        """
        conn, agent, clock = self.connection("hang-like-agent", retries=0)
        d = conn.get("queues")
        clock.advance(31)
        self.failureResultOf(d, errors.RequestTimedOut)
        self.assertEqual(agent.cancelled, agent.pending)


@implementer(IAuthenticator)
class RenewingAuth:
    def __init__(self) -> None:
        self.token = 1
        self.invalidated = 0

    def headers(self) -> Deferred[dict[str, str]]:
        return succeed({"X-Auth-Token": f"token-{self.token}"})

    def endpoint(self) -> Deferred[str | None]:
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)

    def invalidate(self, used: Any = None) -> bool:
        self.invalidated += 1
        self.token += 1
        return True

    def check(self, method: str, path: str) -> None:
        pass


class FixedRandom(random.Random):
    """A C{random()} that answers the values given, in order."""

    def __init__(self, *values: float) -> None:
        super().__init__()
        self._values = iter(values)

    def random(self) -> float:
        return next(self._values)


class RefusingAuth(RenewingAuth):
    def check(self, method: str, path: str) -> None:
        raise errors.ClientValidationError("path", f"{method} {path} is not allowed")


class AwayIdentity(RenewingAuth):
    """Identity is unreachable for the first request's headers, then back."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def headers(self) -> Deferred[dict[str, str]]:
        self.calls += 1
        if self.calls == 1:
            return fail(errors.IdentityUnavailable("Identity unavailable", "Keystone is away"))
        return super().headers()


class HangingIdentity(RenewingAuth):
    """Headers that never come; cancelled, they fail as an identity service gone away does."""

    def headers(self) -> Deferred[dict[str, str]]:
        return Deferred(lambda d: d.errback(errors.IdentityUnavailable("Identity unavailable", "cancelled")))


class ReauthenticationTests(ConnectionTestsMixin, SynchronousTestCase):
    def test_refused_headers_travel_with_the_401(self) -> None:
        """
        A 401 carries the headers of the refused request (L{errors.Unauthorized.auth_headers}):
        the authenticator is told which ones to renew, and the final 401 has the renewed ones.
        """
        used: list[Any] = []

        class Recording(RenewingAuth):
            def invalidate(self, refused: Any = None) -> bool:
                used.append(refused)
                return super().invalidate(refused)

        conn, _, _ = self.connection(CannedResponse(401, b"{}"), CannedResponse(401, b"{}"), auth=Recording())
        failure = self.failureResultOf(conn.post("queues/q/messages", body={"messages": [{"body": "x"}]}),
                                       errors.Unauthorized)
        self.assertEqual(used, [{"X-Auth-Token": "token-1"}])
        self.assertEqual(failure.value.auth_headers, {"X-Auth-Token": "token-2"})

    def test_one_retry_with_new_token_and_same_bytes(self) -> None:
        auth = RenewingAuth()
        conn, agent, _ = self.connection(CannedResponse(401, b"{}"), json_response(201, {}), auth=auth)
        self.successResultOf(conn.post("queues/q/messages", body={"messages": [{"body": "x"}]}))
        self.assertEqual(auth.invalidated, 1)
        tokens = [r[2].getRawHeaders(b"x-auth-token") for r in agent.requests]
        self.assertEqual(tokens, [[b"token-1"], [b"token-2"]])
        self.assertEqual(agent.requests[0][3], agent.requests[1][3])

    def test_second_401_is_final(self) -> None:
        auth = RenewingAuth()
        conn, agent, _ = self.connection(CannedResponse(401, b""), CannedResponse(401, b""), auth=auth)
        self.failureResultOf(conn.get("queues"), errors.Unauthorized)
        self.assertEqual(len(agent.requests), 2)

    def test_noauth_401_not_retried(self) -> None:
        conn, agent, _ = self.connection(CannedResponse(401, b""))
        self.failureResultOf(conn.get("queues"), errors.Unauthorized)
        self.assertEqual(len(agent.requests), 1)

    def test_token_not_in_repr(self) -> None:
        self.assertNotIn("s3cret", repr(Token("s3cret", "http://x")))


class CloseTests(ConnectionTestsMixin, SynchronousTestCase):
    def test_close_cancels_in_flight(self) -> None:
        conn, agent, _ = self.connection("hang")
        d = conn.get("queues")
        self.successResultOf(conn.close())
        self.failureResultOf(d)
        self.assertEqual(agent.cancelled, agent.pending)
        self.failureResultOf(conn.get("queues"), errors.ConnectionFailed)


    def test_close_during_backoff(self) -> None:
        """Closed while waiting to retry after a 503 (which reached Zaqar): may have been sent."""
        conn, agent, clock = self.connection(CannedResponse(503, b""), json_response(200, {}))
        d = conn.get("queues")
        self.successResultOf(conn.close())
        error = self.failureResultOf(d, errors.ClientClosed).value
        self.assertEqual((error.not_sent, len(agent.requests)), (False, 1))

    def test_close_while_identity_fails(self) -> None:
        """A request whose identity call fails as close() cuts it is a ClientClosed, sent nowhere."""
        auth = HangingIdentity()
        conn, agent, _ = self.connection(auth=auth)
        d = conn.get("queues")
        self.successResultOf(conn.close())
        error = self.failureResultOf(d, errors.ClientClosed).value
        self.assertEqual((error.not_sent, agent.requests), (True, []))


class FakeTransport:
    def __init__(self) -> None:
        self.lost = False

    def loseConnection(self) -> None:
        self.lost = True


class FakeParserResponse:
    def __init__(self, version: tuple[bytes, int, int]) -> None:
        self.version = version


class FakeProtocol:
    state = "QUIESCENT"

    def __init__(self, version: tuple[bytes, int, int], connection_header: bytes | None = None) -> None:
        self.transport = FakeTransport()
        self._parser = type("P", (), {})()
        self._parser.response = FakeParserResponse(version)
        self._parser.connHeaders = Headers({b"connection": [connection_header]} if connection_header else {})


class PoolTests(SynchronousTestCase):
    def test_http10_connection_not_pooled(self) -> None:
        """The built-in server's HTTP/1.0 answers close the socket: never reuse it."""
        pool = ZaqarConnectionPool(Clock())
        old = FakeProtocol((b"HTTP", 1, 0))
        pool._putConnection(("http", b"h", 1), old)
        self.assertTrue(old.transport.lost)
        self.assertEqual(pool._connections.get(("http", b"h", 1), []), [])

    def test_http10_keep_alive_and_http11_pooled(self) -> None:
        clock = Clock()
        pool = ZaqarConnectionPool(clock)
        keep = FakeProtocol((b"HTTP", 1, 0), b"keep-alive")
        new = FakeProtocol((b"HTTP", 1, 1))
        pool._putConnection("k", keep)
        pool._putConnection("k", new)
        self.assertEqual(pool._connections["k"], [keep, new])
        self.assertFalse(keep.transport.lost or new.transport.lost)
        clock.advance(2)  # idle connections go before gunicorn's 2 s keep-alive
        self.assertEqual(pool._connections.get("k", []), [])


class BodyJSONTests(Recorded):
    def test_nan_and_infinity(self) -> None:
        """C{NaN} and C{Infinity} are not JSON: refused, not sent as non-standard JSON."""
        queue = self.client.queue("q")
        for value in (math.nan, math.inf, -math.inf, {"a": [1, math.nan]}):
            self.assertRefused(queue.post, "messages", {"body": value})

    def test_connection_body(self) -> None:
        """A body the connection encodes itself is held to the same rule."""
        d = self.client.connection.post("queues/q/claims", body={"ttl": math.nan})
        self.failureResultOf(d, ClientValidationError)
        self.assertEqual(self.recorder.requests, [])

    def test_finite_floats_pass(self) -> None:
        queue = self.client.queue("q")
        [mid] = self.successResultOf(queue.post({"body": {"f": 1.5, "e": 1e300}}))
        self.assertEqual(self.successResultOf(queue.message(mid)).body, {"f": 1.5, "e": 1e300})


class TimeoutTests(SynchronousTestCase):
    def test_connect_timeout(self) -> None:
        """C{connect(timeout=-1)} is refused at once, not with an AssertionError later."""
        for value in (-1, 0, math.nan, math.inf, "30", True):
            e = self.assertRaises(ClientValidationError, txzaqar.connect, "http://127.0.0.1:1",
                                  project_id="p", reactor=Clock(), timeout=value)
            self.assertIn("timeout", str(e))

    def test_connection_timeout(self) -> None:
        client, fake = memory_client()
        self.assertRaises(ClientValidationError, Connection, client.connection.agent, fake.clock,
                          NoAuth("p"), url=MEMORY_URL, timeout=-1)
        self.assertEqual(Connection(client.connection.agent, fake.clock, NoAuth("p"), timeout=2).timeout, 2.0)


class _FlakyIdentity(NoAuth):
    """Identity fails C{failures} times with C{error}, then answers."""

    def __init__(self, error: Exception, failures: int) -> None:
        super().__init__("test")
        self.error = error
        self.failures = failures
        self.calls = 0

    def headers(self) -> Deferred[dict[str, str]]:
        self.calls += 1
        if self.calls <= self.failures:
            return fail(self.error)
        return succeed(dict(self._headers))


class IdentityRetryTests(Recorded):
    def test_post_retried_after_identity_unavailable(self) -> None:
        """
        A POST whose Keystone call failed is retried: nothing reached Zaqar,
        and exactly one message is stored.
        """
        auth = _FlakyIdentity(IdentityUnavailable("Identity service timed out", "no answer"), 1)
        self.client.connection.authenticator = auth
        queue = self.client.queue("q")
        d = queue.post({"body": 1})
        self.fake.clock.advance(1)  # the retry's backoff
        [mid] = self.successResultOf(d)
        self.assertEqual(auth.calls, 2)
        self.assertEqual([r.method for r in self.recorder.requests], ["POST"])
        self.assertEqual([m.id for m in self.successResultOf(queue.messages())], [mid])

    def test_refused_credentials_not_retried(self) -> None:
        """Keystone refusing the credentials is not retried: it will not change."""
        auth = _FlakyIdentity(AuthenticationFailed("Authentication failed", "no"), 1)
        self.client.connection.authenticator = auth
        d = self.client.queue("q").post({"body": 1})
        self.failureResultOf(d, AuthenticationFailed)
        self.assertEqual(auth.calls, 1)
        self.assertEqual(self.recorder.requests, [])
