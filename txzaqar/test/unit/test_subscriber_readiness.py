"""
L{txzaqar.subscriber.readiness}: the Subscriber's health (is it polling, are its errors permanent).
"""

from __future__ import annotations

from typing import Any

from txzaqar import errors
from txzaqar.subscriber import Subscriber
from txzaqar.subscriber.readiness import HEALTH_SLACK, Health, describe_error
from txzaqar.test.helpers.recording import Recorder
from txzaqar.test.helpers.subscriber import SubscriberTestsMixin

#: max_interval of the subscribers of these tests (see SubscriberTestsMixin)
MAX = 8


#: the request timeout a subscriber assumes when its client has no connection
TIMEOUT = 30.0


class ReadinessTests(SubscriberTestsMixin):
    """Readiness transitions, on a L{Clock} and the fake queues."""

    def started(self, *queues: str, **kw: Any) -> Subscriber:
        sub = self.subscriber(**kw)
        for name in queues:
            sub.subscribe(name, Recorder())
        sub.startService()
        self.addCleanup(lambda: self.stop(sub) if sub.running else None)
        return sub

    def test_not_running(self) -> None:
        sub = self.subscriber()
        sub.subscribe("jobs", Recorder())
        self.assertEqual(sub.health(), Health(False, ("the subscriber is not running",)))

    def test_not_ready_before_first_poll(self) -> None:
        """Until a claim of every queue answered, the subscriber is not ready."""
        self.client.queue("jobs").manual = True
        sub = self.started("jobs")
        self.assertEqual(sub.health(), Health(False, ("jobs: no successful poll yet",)))
        self.client.queue("jobs").answer()  # empty, but an answer
        self.assertEqual(sub.health(), Health(True))

    def test_every_queue(self) -> None:
        self.client.queue("b").manual = True
        sub = self.started("a", "b")
        self.assertEqual(sub.health().reasons, ("b: no successful poll yet",))
        self.client.queue("b").answer()
        self.assertTrue(sub.health().ready)

    def test_stale_after_errors_and_recovery(self) -> None:
        """
        Failing claims: ready until the last successful poll is older than
        C{max_interval} + slack; ready again after the next success.
        """
        sub = self.started("jobs")
        queue = self.client.queue("jobs")
        self.assertTrue(sub.health().ready)
        queue.errors.extend([errors.ConnectionFailed("down", "refused")] * 20)
        bound = MAX + HEALTH_SLACK
        elapsed = 0.0
        while elapsed + 1 <= bound:
            self.clock.advance(1)
            elapsed += 1
            self.assertTrue(sub.health().ready, elapsed)
        self.clock.advance(1)
        health = sub.health()
        self.assertFalse(health.ready)
        self.assertEqual(health.reasons, (
            f"jobs: no successful poll for {bound + 1:.0f}s (expected within {bound:.0f}s) "
            "(last error: ConnectionFailed)",))
        del queue.errors[:]
        self.clock.advance(MAX)
        self.assertEqual(sub.health(), Health(True))

    def test_claim_in_flight_gets_the_request_timeout(self) -> None:
        """While a claim is in flight, the bound grows by the request timeout."""
        sub = self.started("jobs")
        queue = self.client.queue("jobs")
        queue.manual = True
        self.clock.advance(1)  # the next claim is sent and hangs
        self.assertEqual(len(queue.pending), 1)
        self.clock.advance(MAX + HEALTH_SLACK + 1)
        self.assertTrue(sub.health().ready)
        self.clock.advance(TIMEOUT)
        self.assertFalse(sub.health().ready)
        queue.answer()
        self.assertTrue(sub.health().ready)

    def test_authentication_failure(self) -> None:
        """A claim refused for authentication makes it unready at once, until a claim succeeds."""
        sub = self.started("jobs")
        queue = self.client.queue("jobs")
        for error in (errors.AuthenticationFailed("Authentication failed", "bad password"),
                      errors.IdentityUnavailable("Identity unavailable", "no keystone"),
                      errors.Unauthorized("Unauthorized", "token refused")):
            queue.errors.append(error)
            self.clock.advance(MAX)
            health = sub.health()
            self.assertFalse(health.ready, error)
            self.assertIn(f"authentication failed: {describe_error(error)}", health.reasons)
            self.clock.advance(MAX)
            self.assertTrue(sub.health().ready)

    def test_reasons_hold_no_secret(self) -> None:
        """Reasons name error classes and statuses, never what the server said."""
        sub = self.started("jobs")
        queue = self.client.queue("jobs")
        queue.errors.append(errors.Unauthorized("Unauthorized", "token gAAAA-secret refused"))
        self.clock.advance(MAX)
        self.assertEqual(sub.health().reasons, ("authentication failed: Unauthorized (401)",))

    def test_waiting_for_a_slot_is_not_stale(self) -> None:
        """Every slot busy with callbacks: polling waits by design, and it stays ready."""
        recorder = Recorder("deferred")
        sub = self.subscriber(concurrency=2)
        sub.subscribe("jobs", recorder)
        self.client.queue("jobs").add(2)
        sub.startService()
        self.addCleanup(lambda: self.stop(sub))
        self.assertEqual(len(recorder.seen), 2)
        self.clock.advance(10 * (MAX + HEALTH_SLACK))
        self.assertTrue(sub.health().ready)
        for d in recorder.deferreds.values():
            d.callback(None)

    def test_stopping_and_unsubscribe(self) -> None:
        """An unsubscribed queue no longer counts; a stopping subscriber is not ready."""
        self.client.queue("other").manual = True
        sub = self.started("jobs", "other")
        self.assertFalse(sub.health().ready)
        d = sub.unsubscribe("other")
        self.client.queue("other").answer()
        self.successResultOf(d)
        self.assertTrue(sub.health().ready)
        self.client.queue("jobs").manual = True
        self.clock.advance(MAX)  # a claim in flight: stopping waits for it
        stopping = sub.stopService()
        self.assertNoResult(stopping)
        self.assertEqual(sub.health().reasons, ("the subscriber is not running",))
        self.client.queue("jobs").answer()
        self.successResultOf(stopping)
