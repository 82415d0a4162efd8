"""
Unit tests for settling claims (L{txzaqar.subscriber.settlement}) through
L{txzaqar.subscriber.Subscriber}: callbacks of every kind, acknowledgements
in bulk, failures, timeouts and renewal.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from twisted.internet.defer import Deferred, TimeoutError, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import LogLevel, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.errors import ConnectionFailed, NotFound
from txzaqar.subscriber import SubscriberSettings
from txzaqar.subscriber.events import CALLBACK_TIMEOUT_WARNING
from txzaqar.subscriber.settlement import MAX_REMEMBERED_FAILURES, FailureMemory, QueueSettlement
from txzaqar.test.helpers.recording import Recorder
from txzaqar.test.helpers.subscriber import FakeMessage, FakeQueue, SubscriberTestsMixin


class DeliveryTests(SubscriberTestsMixin):
    def test_callback_kinds(self) -> None:
        """Plain, Deferred-returning and coroutine callbacks all work."""
        seen = []

        def plain(m: FakeMessage) -> None:
            seen.append(("plain", m.id))

        def deferred(m: FakeMessage) -> Deferred[None]:
            seen.append(("deferred", m.id))
            return succeed(None)

        async def coroutine(m: FakeMessage) -> None:
            seen.append(("coroutine", m.id))

        sub = self.subscriber()
        for name, cb in (("p", plain), ("d", deferred), ("c", coroutine)):
            sub.subscribe(name, cb)
            self.client.queues[name].add(1, name)
        sub.startService()
        self.assertEqual(sorted(k for k, _ in seen), ["coroutine", "deferred", "plain"])
        self.assertEqual(sub.stats["acked"], 3)
        self.stop(sub)

    def test_acks_are_batched(self) -> None:
        """Successes are deleted together: at the end of a claim, or ack_delay after the first."""
        sub = self.subscriber(batch=10, ack_delay=1)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(10)
        sub.startService()
        for m in cb.seen[:4]:
            cb.deferreds[m.id].callback(None)
        self.assertEqual(q.deletes(), [])
        self.clock.advance(1)
        self.assertEqual(q.deletes(), [["m0", "m1", "m2", "m3"]])
        for m in cb.seen[4:]:
            cb.deferreds[m.id].callback(None)
        self.assertEqual(q.deletes()[1], ["m4", "m5", "m6", "m7", "m8", "m9"])
        self.assertEqual(q.released(), [])
        self.stop(sub)

    def test_twenty_acks_are_deleted_at_once(self) -> None:
        """Twenty successes waiting (over two claims) are deleted without waiting for ack_delay."""
        sub = self.subscriber(batch=20, concurrency=40, ack_delay=10)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(25)
        sub.startService()
        self.clock.advance(0)
        self.assertEqual(len(cb.seen), 25)
        for m in cb.seen[:19] + cb.seen[20:21]:  # 19 of the first claim, 1 of the second
            cb.deferreds[m.id].callback(None)
        self.assertEqual([len(ids) for ids in q.deletes()], [20])
        for m in cb.seen[19:20] + cb.seen[21:]:
            cb.deferreds[m.id].callback(None)
        self.stop(sub)

    def test_raising_callback_does_not_kill_the_loop(self) -> None:
        """A failure is logged, its claim released once the rest is acked, and polling goes on."""
        def cb(m: FakeMessage) -> None:
            if m.id == "m1":
                raise ZeroDivisionError("boom")

        sub = self.subscriber(batch=3)
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(3)
        sub.startService()
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        kinds = [e[0] for e in q.log]
        self.assertEqual(kinds[:3], ["claim", "delete", "release"])
        self.assertEqual(q.deletes()[0], ["m0", "m2"])
        self.assertEqual(sub.stats["failed"], 1)
        self.assertEqual(sub.stats["released"], 1)
        failed = [e for e in self.events if e.get("log_failure") is not None
                  and e.get("message_id") == "m1"]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["queue"], "q")
        # the loop polls again (the released message comes straight back)
        self.clock.advance(0)
        self.assertGreater(len(q.claim_times), 1)
        self.flushLoggedErrors(ZeroDivisionError)
        self.stop(sub)

    def test_failed_message_redelivered(self) -> None:
        """A callback that fails once sees the message again right after the release."""
        attempts: dict[str, int] = {}

        def cb(m: FakeMessage) -> None:
            attempts[m.id] = attempts.get(m.id, 0) + 1
            if attempts[m.id] == 1:
                raise ValueError("first time")

        sub = self.subscriber(batch=5)
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(5)
        sub.startService()
        self.clock.pump([0] * 5)
        self.flushLoggedErrors(ValueError)
        self.assertEqual(attempts, {f"m{i}": 2 for i in range(5)})
        self.assertEqual(sorted(q.deleted_ids), sorted(attempts))
        self.assertEqual(q.available, [])
        self.stop(sub)

    def test_repeated_failure_left_to_expire(self) -> None:
        """A message failing again is not released at once: its claim runs out instead."""
        def cb(m: FakeMessage) -> None:
            raise ZeroDivisionError(m.id)

        sub = self.subscriber(batch=1)
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        self.assertEqual(q.released(), ["c1"])
        self.clock.advance(0)  # full claim: polls again at once, gets it back
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)
        self.assertEqual(q.released(), ["c1"])
        self.assertEqual(sub.stats["left_to_expire"], 1)
        self.assertEqual(sub.stats["failed"], 2)
        self.stop(sub)
        self.assertEqual(q.released(), ["c1"])

    def test_callback_timeout(self) -> None:
        """
        A callback on the reactor past callback_timeout is cancelled, its
        message released, and it says so in one warning: no traceback,
        no bare TimeoutError.
        """
        sub = self.subscriber(callback_timeout=5)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        self.clock.advance(4.9)
        self.assertEqual(q.released(), [])
        self.clock.advance(0.1)
        self.assertEqual(q.released(), ["c1"])
        self.assertEqual((sub.stats["timed_out"], sub.stats["failed"]), (1, 1))
        self.assertEqual(self.flushLoggedErrors(), [])
        [event] = [e for e in self.events if e.get("log_format") == CALLBACK_TIMEOUT_WARNING]
        self.assertEqual((event["log_level"], event["queue"], event["message_id"], event["timeout"]),
                         (LogLevel.warn, "q", "m0", 5))
        self.assertEqual(formatEvent(event), "callback for m0 on q ran past callback_timeout (5s): "
                         "cancelled after 5.0s; the message goes back to the queue")
        self.assertEqual([e for e in self.events if e.get("log_failure") is not None], [])
        self.stop(sub)

    def test_own_timeout_error_is_a_failure(self) -> None:
        """A callback failing with a TimeoutError of its own is a failure, not a callback timeout."""
        sub = self.subscriber(callback_timeout=5)
        sub.subscribe("q", lambda m: fail(TimeoutError(1, "its own")))
        self.client.queues["q"].add(1)
        sub.startService()
        self.assertEqual((sub.stats["timed_out"], sub.stats["failed"]), (0, 1))
        self.assertEqual(len(self.flushLoggedErrors(TimeoutError)), 1)
        self.stop(sub)

    def test_renewal_at_half_ttl(self) -> None:
        """A claim whose callbacks still run is renewed every ttl/2, and not after they end."""
        sub = self.subscriber(claim_ttl=60, grace=90)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(2)
        sub.startService()
        patches = lambda: [e for e in q.log if e[0] == "patch"]  # noqa: E731
        self.clock.advance(29.9)
        self.assertEqual(patches(), [])
        self.clock.advance(0.1)
        self.assertEqual(patches(), [("patch", "c1", 60, 90)])
        cb.deferreds["m0"].callback(None)
        self.clock.advance(30)
        self.assertEqual(len(patches()), 2)
        self.assertEqual(sub.stats["renewed"], 2)
        cb.deferreds["m1"].callback(None)
        self.clock.advance(300)
        self.assertEqual(len(patches()), 2)
        self.assertIn("renewed claim {claim_id} on {queue} ({count} still running)",
                      self.event_formats())
        self.stop(sub)

    def test_renewal_at_half_an_odd_ttl(self) -> None:
        """Half of an odd ttl is not rounded down."""
        sub = self.subscriber(claim_ttl=61)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        patches = lambda: len([e for e in q.log if e[0] == "patch"])  # noqa: E731
        for expected in (1, 2):
            self.clock.advance(30.4)
            self.assertEqual(patches(), expected - 1)
            self.clock.advance(0.1)
            self.assertEqual(patches(), expected)
        cb.deferreds["m0"].callback(None)
        self.stop(sub)

    def test_late_callback_after_stop_is_only_logged(self) -> None:
        """A callback ending after stop gave up on its claim is neither counted nor acknowledged."""
        sub = self.subscriber(stop_timeout=10)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(1)
        sub.startService()
        d = sub.stopService()
        self.clock.advance(10)
        self.successResultOf(d)
        self.assertEqual(q.released(), ["c1"])
        cb.deferreds["m0"].callback(None)
        self.assertEqual((sub.stats["processed"], q.deletes()), (0, []))
        self.assertIn("callback for {message_id} on {queue} finished after its claim was given up",
                      self.event_formats())

    def test_renewal_of_expired_claim_stops(self) -> None:
        sub = self.subscriber(claim_ttl=60)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(1)
        q.patch_results = [fail(NotFound("gone", code=404))]
        sub.startService()
        self.clock.advance(30)
        self.assertEqual(len(self.flushLoggedErrors(NotFound)), 1)
        self.clock.advance(300)
        self.assertEqual(len([e for e in q.log if e[0] == "patch"]), 1)
        self.assertEqual(sub.stats["renew_failed"], 1)
        cb.deferreds["m0"].callback(None)
        self.stop(sub)

    def test_renewal_retried_after_a_failure(self) -> None:
        """A renewal that fails for another reason than an expired claim is tried again ttl/8 later."""
        sub = self.subscriber(claim_ttl=60)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(1)
        q.patch_results = [fail(ConnectionFailed("Connection failed", "reset"))]
        sub.startService()
        patches = lambda: len([e for e in q.log if e[0] == "patch"])  # noqa: E731
        self.clock.advance(30)
        self.assertEqual((patches(), sub.stats["renew_failed"]), (1, 1))
        self.assertEqual(len(self.flushLoggedErrors(ConnectionFailed)), 1)
        self.clock.advance(7.4)
        self.assertEqual(patches(), 1)
        self.clock.advance(0.1)
        self.assertEqual((patches(), sub.stats["renewed"]), (2, 1))
        cb.deferreds["m0"].callback(None)
        self.stop(sub)


class DrainWarningTests(SubscriberTestsMixin, SynchronousTestCase):
    def test_gave_up_is_logged(self) -> None:
        """Stopping with a callback past stop_timeout says, once, that it gave up waiting."""
        sub = self.subscriber(stop_timeout=10)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        self.client.queues["q"].add(1)
        sub.startService()
        d = sub.stopService()
        self.clock.advance(10)
        self.successResultOf(d)
        self.assertEqual(self.client.queues["q"].released(), ["c1"])
        self.assertEqual(self.event_formats().count("gave up waiting for callbacks on {queue} after {timeout}s"), 1)


class QueueSettlementTests(SynchronousTestCase):
    """L{QueueSettlement} on its own: when it says its messages come back."""

    def test_returned_delays(self) -> None:
        """A released claim's messages are back at once; one left to expire, claim_ttl + 1 s later."""
        clock = Clock()
        queue = FakeQueue(clock, "q")
        [message] = queue.add(1)
        failures = FailureMemory()
        delays: list[float] = []
        settlement = QueueSettlement(queue, clock, SubscriberSettings(claim_ttl=90), Counter(), failures,  # type: ignore[arg-type]
                                     returned=delays.append)
        for expected in ([0.0], [0.0, 91.0]):  # the first failure is released, the second left to expire
            claim = queue.make_claim(1)
            work = settlement.begin(claim, [message])  # type: ignore[arg-type]
            settlement.finished(work, message, Failure(ZeroDivisionError()))
            self.assertEqual(delays, expected)
            queue.available.append(message)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)


    def test_release_that_fails(self) -> None:
        """A release that fails is counted and logged; the messages come back when the claim expires."""
        clock = Clock()
        queue = FakeQueue(clock, "q")
        [message] = queue.add(1)
        delays: list[float] = []
        stats: Counter[str] = Counter()
        settlement = QueueSettlement(queue, clock, SubscriberSettings(), stats, FailureMemory(),  # type: ignore[arg-type]
                                     returned=delays.append)
        claim = queue.make_claim(1)
        claim.release = lambda: fail(ConnectionFailed("Connection failed", "reset"))  # type: ignore[method-assign]
        work = settlement.begin(claim, [message])  # type: ignore[arg-type]
        settlement.finished(work, message, Failure(ZeroDivisionError()))
        assert work.settled is not None
        self.successResultOf(work.settled)
        self.assertEqual((stats["release_failed"], stats["released"], delays), (1, 0, []))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError, ConnectionFailed)), 2)


    def settlement(self, **settings: Any) -> tuple[QueueSettlement, FakeQueue, Clock]:
        clock = Clock()
        queue = FakeQueue(clock, "q")
        settlement = QueueSettlement(queue, clock, SubscriberSettings(**settings), Counter(),  # type: ignore[arg-type]
                                     FailureMemory())
        return settlement, queue, clock

    def test_released_after_the_delete_in_flight(self) -> None:
        """A claim is released only once the delete of its successes, sent earlier, is done."""
        settlement, queue, clock = self.settlement(ack_delay=1)
        m0, m1 = queue.add(2)
        deleted: Deferred[None] = Deferred()
        queue.delete_messages = lambda ids: deleted  # type: ignore[method-assign]
        work = settlement.begin(queue.make_claim(2), [m0, m1])  # type: ignore[arg-type]
        settlement.finished(work, m0, None)
        clock.advance(1)  # ack_delay: the delete of m0 is sent, and hangs
        settlement.finished(work, m1, Failure(ZeroDivisionError()))
        self.assertEqual(queue.released(), [])
        deleted.callback(None)
        self.assertEqual(queue.released(), ["c1"])
        self.flushLoggedErrors(ZeroDivisionError)

    def test_drain_waits_for_the_release(self) -> None:
        """C{drain} ends once the claims it gave up on are released, not before."""
        settlement, queue, clock = self.settlement()
        [m0] = queue.add(1)
        claim = queue.make_claim(1)
        released: Deferred[None] = Deferred()
        claim.release = lambda: released  # type: ignore[method-assign]
        settlement.begin(claim, [m0])  # type: ignore[arg-type]
        d = Deferred.fromCoroutine(settlement.drain(10))
        clock.advance(10)
        self.assertNoResult(d)
        released.callback(None)
        self.successResultOf(d)


class FailureMemoryTests(SynchronousTestCase):
    def test_twice_is_a_repeat(self) -> None:
        failures = FailureMemory()
        self.assertFalse(failures.failed_before("m0"))
        failures.failed("m0")
        self.assertFalse(failures.failed_before("m0"))
        failures.failed("m0")
        self.assertTrue(failures.failed_before("m0"))
        failures.failed("m0")
        self.assertTrue(failures.failed_before("m0"))
        failures.succeeded("m0")
        self.assertFalse(failures.failed_before("m0"))

    def test_oldest_forgotten_past_the_bound(self) -> None:
        """10,000 ids are remembered; the 10,001st makes it forget the oldest."""
        failures = FailureMemory()
        failures.failed("m0")
        failures.failed("m0")
        for n in range(1, MAX_REMEMBERED_FAILURES):
            failures.failed(f"m{n}")
        self.assertEqual(MAX_REMEMBERED_FAILURES, 10_000)
        self.assertTrue(failures.failed_before("m0"))
        failures.failed("one more")
        self.assertFalse(failures.failed_before("m0"))
