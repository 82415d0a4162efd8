"""
The bad inputs of issue 12 that got through, each refused (or handled)
now, against the in-memory Zaqar: a bad value raises
L{ClientValidationError} and sends nothing.
"""

from __future__ import annotations

import math

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

import txzaqar
from txzaqar.auth import NoAuth
from txzaqar.connection import Connection
from txzaqar.errors import AuthenticationFailed, ClientValidationError, IdentityUnavailable
from txzaqar.test.helpers.recording import Recorded
from txzaqar.testing import MEMORY_URL, memory_client


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


