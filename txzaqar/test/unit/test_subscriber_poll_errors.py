"""
Expected network failures in the Subscriber's poll loop: counted in
C{poll_errors}, logged in one line without a traceback; only a bug keeps
its traceback.  Through the real L{Client} and L{Connection} over an agent
that fails as Twisted's does (an unresolvable host), and through
L{QueuePoller} directly.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.api.client import Client
from txzaqar.auth import NoAuth
from txzaqar.http.connection import Connection
from txzaqar.subscriber import Subscriber
from txzaqar.subscriber.polling import QueuePoller
from txzaqar.subscriber.settings import SubscriberSettings
from txzaqar.subscriber.slots import Slots
from txzaqar.test.helpers.connection import CannedAgent


class DNSFailureTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]

    def test_unresolvable_host_counted_and_one_line(self) -> None:
        agent = CannedAgent(*[DNSLookupError("Couldn't find the hostname 'zaqar.invalid'")] * 100)
        connection = Connection(agent, self.clock, NoAuth("p"), url="http://zaqar.invalid:8888", retries=0)
        sub = Subscriber(Client(connection), clock=self.clock, jitter=lambda: 0.0, poll_interval=1,
                         max_interval=4, timer=self.clock.seconds)
        sub.subscribe("q", lambda message: None)
        sub.startService()
        self.clock.pump([1] * 20)
        self.assertGreaterEqual(sub.queue_stats()["q"]["poll_errors"], 5)
        self.assertEqual([e for e in self.events if e.get("log_failure") is not None], [])
        self.assertEqual([e for e in self.events if e["log_level"] >= LogLevel.error], [])
        [warning] = [e for e in self.events if e["log_level"] == LogLevel.warn]
        self.assertIn("cannot resolve the host 'zaqar.invalid'", warning["reason"])
        self.assertIn("ConnectionFailed: Name lookup failed", warning["reason"])
        self.successResultOf(sub.stopService())


class PollerTests(SynchronousTestCase):
    """A L{ZaqarError} that escapes a claim is one line; anything else keeps its traceback."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]

    def poller(self, error: Exception) -> QueuePoller:
        settings = SubscriberSettings(poll_interval=1, max_interval=4)

        async def claim() -> Any:
            raise error

        poller = QueuePoller("q", claim, Slots(settings.concurrency), settings, self.clock, lambda: 0.0)
        poller.start()
        self.clock.pump([1] * 10)
        self.assertTrue(poller.backoff_delay > 0)
        return poller

    def test_typed_error_in_one_line(self) -> None:
        poller = self.poller(errors.ConnectionFailed("Connection failed", "GET x: reset", not_sent=False))
        self.assertEqual([e for e in self.events if e.get("log_failure") is not None], [])
        [warning] = [e for e in self.events if e["log_level"] == LogLevel.warn]
        self.assertEqual(warning["reason"], "polling failed: ConnectionFailed: Connection failed - GET x: reset")
        self.successResultOf(Deferred.fromCoroutine(poller.stop()))

    def test_certificate_refused_at_error_with_advice(self) -> None:
        """Waiting will not fix a certificate: said at error, with what to do, once."""
        poller = self.poller(errors.CertificateVerificationFailed("TLS certificate refused", "GET x: not for 'h'"))
        [error] = [e for e in self.events if e["log_level"] == LogLevel.error]
        self.assertIn("give its CA as cacert", error["advice"])
        self.assertEqual([e for e in self.events if e.get("log_failure") is not None], [])
        self.successResultOf(Deferred.fromCoroutine(poller.stop()))

    def test_bug_keeps_its_traceback(self) -> None:
        poller = self.poller(KeyError("bug"))
        failures = [e for e in self.events if e.get("log_failure") is not None]
        self.assertTrue(failures)
        self.flushLoggedErrors(KeyError)
        self.successResultOf(Deferred.fromCoroutine(poller.stop()))
