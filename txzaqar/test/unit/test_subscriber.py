"""
Unit tests for L{txzaqar.subscriber.Subscriber}: polling, stopping, wake-ups
and claims in flight, on a L{Clock} with fake queues and claims (in the
shape of Twisted's C{TimerServiceTests}).  Settling claims is tested in
C{test_subscriber_settlement}, the pull stream in C{test_subscriber_stream}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import txzaqar
from txzaqar.api.client import Client
from txzaqar.errors import ClientValidationError, ServiceUnavailable
from txzaqar.interfaces import ISubscriber
from txzaqar.subscriber import STATS, Subscriber
from txzaqar.test.helpers.recording import Recorder
from txzaqar.test.helpers.subscriber import SubscriberTestsMixin


class PollingTests(SubscriberTestsMixin):
    def test_interface(self) -> None:
        sub = self.subscriber()
        self.assertTrue(verifyObject(ISubscriber, sub))
        self.assertEqual(set(STATS), set(sub.stats))

    def test_client_subscriber(self) -> None:
        """
        C{Client.subscriber(**kw)} makes a Subscriber on that client: with
        L{txzaqar.connect}'s client, or a factory given by hand.
        """
        client = txzaqar.connect("http://127.0.0.1:1", project_id="p", reactor=self.clock)
        sub = client.subscriber(clock=self.clock, batch=5)
        self.assertIsInstance(sub, Subscriber)
        self.assertEqual(sub.batch, 5)
        by_hand = Client(object(), subscriber_factory=Subscriber)  # type: ignore[arg-type]
        self.assertEqual(by_hand.subscriber(clock=self.clock, batch=3).batch, 3)
        self.assertRaises(TypeError, Client(object()).subscriber)  # type: ignore[arg-type]

    def test_no_poll_before_start(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        self.clock.advance(100)
        self.assertEqual(self.client.queues["q"].claim_times, [])
        self.assertEqual(sub.channels, frozenset({"q"}))

    def test_first_poll_at_start(self) -> None:
        """The first claim is sent at once, with batch, claim ttl and grace."""
        sub = self.subscriber(batch=7, claim_ttl=90, grace=120)
        sub.subscribe("q", Recorder())
        sub.startService()
        q = self.client.queues["q"]
        self.assertEqual(q.log, [("claim", 7, 90, 120)])
        self.stop(sub)

    def test_subscribe_while_running(self) -> None:
        sub = self.subscriber()
        sub.startService()
        sub.subscribe("q", Recorder())
        self.assertEqual(len(self.client.queues["q"].claim_times), 1)
        self.stop(sub)

    def test_repoll_when_full(self) -> None:
        """A full claim is followed at once by another; a partial one waits poll_interval."""
        sub = self.subscriber(batch=10, concurrency=100)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(25)
        sub.startService()
        self.clock.advance(0)
        self.assertEqual(q.claim_times, [0, 0, 0])
        self.assertEqual(len(cb.seen), 25)
        self.clock.advance(0.999)
        self.assertEqual(len(q.claim_times), 3)
        self.clock.advance(0.001)
        self.assertEqual(q.claim_times, [0, 0, 0, 1])
        self.assertEqual(sorted(sum(q.deletes(), [])), sorted(cb.ids()))
        self.assertEqual(sub.stats["claimed"], 25)
        self.assertEqual(sub.stats["processed"], 25)
        self.assertEqual(sub.stats["acked"], 25)
        self.stop(sub)

    def test_backoff_when_empty(self) -> None:
        """Empty claims back off 1, 2, 4, 8, 8 ... and a message resets it."""
        sub = self.subscriber()
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        sub.startService()
        self.clock.pump([1] * 31)
        self.assertEqual(q.claim_times, [0, 1, 3, 7, 15, 23, 31])
        self.assertEqual(sub.stats["empty_polls"], 7)
        q.add(1)
        self.clock.advance(8)  # t=39: claims one (partial), next poll after 1s
        self.assertEqual(cb.ids(), ["m0"])
        self.clock.pump([1] * 4)
        self.assertEqual(q.claim_times[7:], [39, 40, 41, 43])
        self.stop(sub)

    def test_backoff_jitter(self) -> None:
        """Jitter shortens a delay by up to a quarter, never lengthens it."""
        sub = self.subscriber(jitter=lambda: 0.5)
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        sub.startService()
        self.clock.pump([0.125] * 60)
        self.assertEqual(q.claim_times[:4], [0, 0.875, 2.625, 6.125])
        self.stop(sub)

    def test_backoff_after_errors_and_recovery(self) -> None:
        """Failed claims back off like empty ones; the loop lives on and recovers."""
        sub = self.subscriber()
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.errors = [ServiceUnavailable("down", code=503) for _ in range(3)]
        q.add(3)
        sub.startService()
        self.clock.pump([1] * 7)
        self.assertEqual(q.claim_times, [0, 1, 3, 7])
        self.assertEqual(cb.ids(), ["m0", "m1", "m2"])
        self.assertEqual(sub.stats["poll_errors"], 3)
        backing = [e for e in self.events if "backing off" in e.get("log_format", "")]
        self.assertEqual(len(backing), 3)
        self.assertIn("claiming failed", backing[0]["reason"])
        self.clock.advance(1)
        self.assertEqual(q.claim_times[-1], 8)  # back to poll_interval
        self.stop(sub)

    def test_unexpected_error_does_not_kill_the_loop(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        q.errors = [RuntimeError("bug")]
        sub.startService()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.clock.advance(1)
        self.assertEqual(q.claim_times, [0, 1])
        self.stop(sub)

    def test_concurrency_limit(self) -> None:
        """Never more than `concurrency` messages claimed and running; claims shrink to fit."""
        sub = self.subscriber(batch=10, concurrency=3)
        cb = Recorder("deferred")
        sub.subscribe("a", cb)
        sub.subscribe("b", cb)
        qa, qb = self.client.queues["a"], self.client.queues["b"]
        qa.add(10, "a")
        qb.add(10, "b")
        sub.startService()
        self.clock.advance(0)
        self.assertEqual(len(cb.seen), 3)
        self.assertEqual(sub.in_flight, 3)
        self.assertEqual(sum(qa.claim_limits + qb.claim_limits), 3)
        self.clock.advance(60)
        self.assertEqual(len(cb.seen), 3)
        n_claims = len(qa.claim_times) + len(qb.claim_times)
        first = cb.seen[0].id
        cb.deferreds[first].callback(None)
        self.clock.advance(0)
        self.assertEqual(len(cb.seen), 4)
        self.assertEqual(sub.in_flight, 3)
        self.assertEqual(len(qa.claim_times) + len(qb.claim_times), n_claims + 1)
        for m in list(cb.seen):
            if not cb.deferreds[m.id].called:
                cb.deferreds[m.id].callback(None)
        self.stop(sub)

    def test_concurrency_of_its_own(self) -> None:
        """
        A queue subscribed with C{concurrency=N} runs at most N callbacks in
        slots of its own: a busy shared pool does not hold it back, and it
        does not take the shared slots.
        """
        sub = self.subscriber(batch=10, concurrency=3)
        shared, own = Recorder("deferred"), Recorder("deferred")
        sub.subscribe("a", shared)
        sub.subscribe("b", own, concurrency=2)
        qa, qb = self.client.queues["a"], self.client.queues["b"]
        qa.add(10, "a")
        qb.add(10, "b")
        sub.startService()
        self.clock.advance(0)
        self.assertEqual((len(shared.seen), len(own.seen)), (3, 2))
        self.assertEqual(sub.in_flight, 5)
        self.assertEqual(qb.claim_limits, [2])
        self.clock.advance(60)
        self.assertEqual(len(own.seen), 2)
        own.deferreds[own.seen[0].id].callback(None)
        self.clock.advance(0)
        self.assertEqual((len(shared.seen), len(own.seen)), (3, 3))
        self.assertTrue(sub.health().ready, sub.health().reasons)
        self.assertRaises(ClientValidationError, sub.subscribe, "c", shared, concurrency=0)
        for recorder in (shared, own):
            for m in list(recorder.seen):
                if not recorder.deferreds[m.id].called:
                    recorder.deferreds[m.id].callback(None)
        self.stop(sub)

    def test_claims_in_flight_reserve_slots(self) -> None:
        """Two queues polling at once never claim more than the free slots together."""
        sub = self.subscriber(batch=10, concurrency=12)
        sub.subscribe("a", Recorder("deferred"))
        sub.subscribe("b", Recorder("deferred"))
        qa, qb = self.client.queues["a"], self.client.queues["b"]
        qa.manual = qb.manual = True
        sub.startService()
        self.assertEqual(qa.claim_limits + qb.claim_limits, [10, 2])
        qa.answer()
        qb.answer()  # both empty
        self.stop(sub)

    def test_unsubscribe(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        sub.startService()
        self.successResultOf(sub.unsubscribe("q"))
        self.assertEqual(sub.channels, frozenset())
        self.clock.advance(100)
        self.assertEqual(q.claim_times, [0])
        self.assertIsNone(self.successResultOf(sub.unsubscribe("nope")))
        self.stop(sub)

    def test_subscribe_twice(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        self.assertRaises(ValueError, sub.subscribe, "q", Recorder())

    def test_bad_arguments(self) -> None:
        sub = self.subscriber()
        self.assertRaises(ClientValidationError, sub.subscribe, "bad name", Recorder())
        self.assertRaises(ClientValidationError, sub.subscribe, "q", "not callable")
        self.assertRaises(ClientValidationError, sub.subscribe, "q", Recorder(), dead_letter_queue="d")
        self.assertRaises(ClientValidationError, sub.subscribe, "q", Recorder(), max_claim_count=3)
        for kw in ({"batch": 0}, {"batch": 21}, {"claim_ttl": 59}, {"grace": 10},
                   {"concurrency": 0}, {"poll_interval": 0}, {"max_interval": 0.5}):
            self.assertRaises(ClientValidationError, self.subscriber, **kw)

    def test_dead_letter_configuration(self) -> None:
        """Both queues are created and the queue configured before its first claim, once."""
        sub = self.subscriber()
        sub.subscribe("q", Recorder(), dead_letter_queue="dead", max_claim_count=3)
        sub.startService()
        q = self.client.queues["q"]
        self.assertEqual(q.log[:2], [("create",), ("configure", {"max_claim_count": 3, "dead_letter_queue": "dead"})])
        self.assertEqual(self.client.queues["dead"].log, [("create",)])
        self.assertEqual(q.log[2][0], "claim")
        self.clock.advance(1)
        self.assertEqual([e[0] for e in q.log], ["create", "configure", "claim", "claim"])
        self.stop(sub)

    def test_restart_uses_a_new_loop(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        sub.startService()
        self.stop(sub)
        sub.startService()
        self.assertEqual(q.claim_times, [0, 0])
        self.stop(sub)
        self.assertEqual(self.client.closed, 0)


class StopTests(SubscriberTestsMixin):
    def test_stop_waits_then_acks(self) -> None:
        """stopService waits for running callbacks, deletes them, closes the client (close_client=True)."""
        sub = self.subscriber(close_client=True)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(2)
        sub.startService()
        d = sub.stopService()
        self.assertNoResult(d)
        cb.deferreds["m0"].callback(None)
        self.assertNoResult(d)
        cb.deferreds["m1"].callback(None)
        self.successResultOf(d)
        self.assertEqual(q.deletes(), [["m0", "m1"]])
        self.assertEqual(q.released(), [])
        self.assertEqual(self.client.closed, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_waits_for_unfinished_then_releases_the_rest(self) -> None:
        """After stop_timeout, finished messages are acked and the claims released."""
        sub = self.subscriber(batch=3, concurrency=4, stop_timeout=10, close_client=True)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(4)
        sub.startService()
        self.clock.advance(0)
        self.assertEqual(len(cb.seen), 4)  # claims c1 (3) and c2 (1)
        d = sub.stopService()
        self.assertNoResult(d)
        cb.deferreds["m0"].callback(None)
        self.clock.advance(9.9)
        self.assertNoResult(d)
        self.assertEqual(q.deletes(), [["m0"]])  # after ack_delay
        self.assertEqual(q.released(), [])
        self.clock.advance(0.1)
        self.successResultOf(d)
        self.assertEqual(q.deletes(), [["m0"]])
        self.assertEqual(sorted(q.released()), ["c1", "c2"])
        self.assertEqual(q.log[-1][0], "release")
        self.assertEqual(sub.stats["released"], 3)
        self.assertEqual(self.client.closed, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # a callback that finishes later changes nothing
        cb.deferreds["m1"].callback(None)
        self.assertEqual(q.deletes(), [["m0"]])

    def test_stop_with_claim_in_flight(self) -> None:
        """A claim answered during stop is released at once, not delivered."""
        sub = self.subscriber()
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.manual = True
        q.add(2)
        sub.startService()
        d = sub.stopService()
        self.assertNoResult(d)
        q.answer()
        self.successResultOf(d)
        self.assertEqual(cb.seen, [])
        self.assertEqual(q.released(), ["c1"])
        self.assertEqual(sub.in_flight, 0)

    def test_stop_while_backing_off(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        sub.startService()
        self.clock.advance(0.5)
        self.stop(sub)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_while_waiting_for_a_slot(self) -> None:
        sub = self.subscriber(concurrency=1, stop_timeout=5)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(3)
        sub.startService()
        d = sub.stopService()
        cb.deferreds["m0"].callback(None)
        self.successResultOf(d)
        self.assertEqual(cb.ids(), ["m0"])
        self.assertEqual(q.deletes(), [["m0"]])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_keep_client_open(self) -> None:
        sub = self.subscriber(close_client=False)
        sub.startService()
        self.stop(sub)
        self.assertEqual(self.client.closed, 0)

    def test_keeps_the_callers_client_by_default(self) -> None:
        """The client belongs to whoever made it: stopping does not close it."""
        sub = self.subscriber()
        sub.startService()
        self.stop(sub)
        self.assertEqual(self.client.closed, 0)

    def test_no_restart_after_closing_the_client(self) -> None:
        """A Subscriber that closed its client refuses to start again (typed), rather than fail every poll."""
        sub = self.subscriber(close_client=True)
        sub.subscribe("q", Recorder())
        sub.startService()
        self.stop(sub)
        self.assertEqual(self.client.closed, 1)
        e = self.assertRaises(ClientValidationError, sub.startService)
        self.assertEqual(e.field, "close_client")
        self.assertFalse(sub.running)


class LogTests(SubscriberTestsMixin):
    def test_events(self) -> None:
        sub = self.subscriber(batch=2)
        sub.subscribe("q", Recorder())
        self.client.queues["q"].add(2)
        sub.startService()
        self.stop(sub)
        claimed = [e for e in self.events if e.get("log_format", "").startswith("claimed")]
        self.assertEqual([(e["queue"], e["count"], e["claim_id"]) for e in claimed], [("q", 2, "c1")])
        processed = [e["message_id"] for e in self.events
                     if e.get("log_format", "").startswith("processed")]
        self.assertEqual(processed, ["m0", "m1"])
        stopped = [e for e in self.events if e.get("log_format", "").startswith("subscriber stopped")]
        self.assertEqual(stopped[0]["stats"]["processed"], 2)


class MemoryZaqarTests(SynchronousTestCase):
    """The real client, over the in-memory Zaqar, on a Clock."""

    def test_delivers_everything(self) -> None:
        from txzaqar.testing import memory_subscriber

        clock = Clock()
        sub, client, _fake = memory_subscriber(clock=clock, batch=10, concurrency=5, close_client=False)
        queue = client.queue("mem")
        ids = self.successResultOf(queue.post([{"body": i} for i in range(50)]))
        seen: list[str] = []
        sub.subscribe("mem", lambda m: seen.append(m.id))
        sub.startService()
        for _ in range(100):
            clock.advance(0.1)
            if len(seen) >= 50:
                break
        self.successResultOf(sub.stopService())
        self.assertEqual(sorted(seen), sorted(ids))
        self.assertEqual(self.successResultOf(queue.stats()).total, 0)
        self.assertEqual(sub.stats["acked"], 50)


class ClaimsInFlightTests(SubscriberTestsMixin):
    """C{claims_in_flight}: parallel claims while a queue has a backlog."""

    def test_backlog_is_claimed_with_several_requests_in_flight(self) -> None:
        sub = self.subscriber(batch=10, concurrency=100, claims_in_flight=3)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.manual = True
        q.add(75)
        sub.startService()
        most = 0
        for _ in range(50):
            self.clock.advance(0)
            most = max(most, len(q.pending))
            if not q.pending:
                break
            q.answer()
        self.assertEqual(most, 3)
        self.assertEqual(sorted(cb.ids()), sorted(m for ids in q.deletes() for m in ids))
        self.assertEqual(len(cb.seen), 75)
        self.stop(sub)

    def test_idle_queue_has_one_poll_loop(self) -> None:
        """Extra claims start only after a full claim: an idle queue is polled as with 1."""
        sub = self.subscriber(claims_in_flight=4)
        sub.subscribe("q", Recorder())
        sub.startService()
        self.clock.pump([0.5] * 40)
        self.assertEqual(self.client.queues["q"].claim_times, [0, 1, 3, 7, 15])
        self.stop(sub)

    def test_no_extra_claim_without_a_batch_of_free_slots(self) -> None:
        """Prefetch stays bounded: no extra claim while callbacks hold the slots."""
        sub = self.subscriber(batch=10, concurrency=15, claims_in_flight=4)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(40)
        sub.startService()
        self.clock.advance(0)
        self.assertEqual(q.claim_limits, [10, 5])
        self.assertEqual(sub.in_flight, 15)
        for _ in range(10):
            for d in [d for d in cb.deferreds.values() if not d.called]:
                d.callback(None)
            self.clock.advance(0)
            self.assertLessEqual(sub.in_flight, 15)
        self.assertEqual(len(cb.seen), 40)
        self.assertTrue(all(limit <= 10 for limit in q.claim_limits))
        self.stop(sub)

    def test_stop_waits_for_extra_claims_and_releases_them(self) -> None:
        sub = self.subscriber(batch=10, concurrency=100, claims_in_flight=2)
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.manual = True
        q.add(30)
        sub.startService()
        q.answer()  # full: an extra claim starts alongside the loop
        self.assertEqual(len(q.pending), 1)
        d = sub.stopService()
        self.assertNoResult(d)
        q.answer()
        self.successResultOf(d)
        self.assertEqual(len(cb.seen), 10)
        self.assertEqual(q.released(), ["c2"])
        self.assertEqual(sub.in_flight, 0)

    def test_claims_in_flight_is_validated(self) -> None:
        self.assertRaises(ClientValidationError, self.subscriber, claims_in_flight=0)

    def test_one_slot_waiter_woken_at_a_time(self) -> None:
        """Many idle queues sharing few slots: a finished claim wakes one poll loop, in turn."""
        sub = self.subscriber(batch=1, concurrency=1)
        names = [f"q{i}" for i in range(50)]
        for name in names:
            sub.subscribe(name, Recorder())
            self.client.queue(name).manual = True
        sub.startService()
        polled = [n for n in names if self.client.queues[n].pending]
        self.assertEqual(len(polled), 1)
        waiting = list(sub._slot_waiters)
        self.assertEqual(len(waiting), 49)
        for _ in range(49):
            [queue] = [self.client.queues[n] for n in names if self.client.queues[n].pending]
            queue.answer()  # empty: the loop backs off and frees its slot
            self.clock.advance(0)
            self.assertEqual(sub._slot_waiters, waiting[1:])  # nobody else re-queued
            waiting = waiting[1:]
        self.assertTrue(all(len(self.client.queues[n].claim_times) == 1 for n in names))
        [last] = [self.client.queues[n] for n in names if self.client.queues[n].pending]
        last.answer()
        self.stop(sub)


class WakeTests(SubscriberTestsMixin):
    """C{wake(queue)}: the seam where a push notification says "claim from this queue now"."""

    def test_wake_cuts_an_idle_delay_short(self) -> None:
        sub = self.subscriber()
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        sub.startService()
        self.clock.advance(0.5)  # backing off 1 s after the first, empty claim
        q.add(1)
        sub.wake("q")
        self.clock.advance(0)
        self.assertEqual(q.claim_times, [0, 0.5])
        self.assertEqual(cb.ids(), ["m0"])
        self.clock.advance(0.999)  # partly full: the next claim after poll_interval
        self.assertEqual(q.claim_times, [0, 0.5])
        self.clock.advance(0.001)
        self.assertEqual(q.claim_times, [0, 0.5, 1.5])
        self.stop(sub)

    def test_wake_ups_during_a_claim_cause_one_more(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        q.manual = True
        sub.startService()
        for _ in range(3):
            sub.wake("q")
        q.answer()  # empty, but woken meanwhile: claim again at once, once
        self.clock.advance(0)
        self.assertEqual(q.claim_times, [0, 0])
        q.answer()  # empty, not woken since: back off
        self.clock.advance(0.999)
        self.assertEqual(q.claim_times, [0, 0])
        self.clock.advance(0.001)
        self.assertEqual(q.claim_times, [0, 0, 1])
        q.answer()
        self.stop(sub)

    def test_wake_does_not_cut_an_error_backoff_short(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        q.errors.append(ServiceUnavailable())
        sub.startService()
        sub.wake("q")
        self.clock.advance(0.5)
        self.assertEqual(q.claim_times, [0])
        self.clock.advance(0.5)
        self.assertEqual(q.claim_times, [0, 1])
        self.stop(sub)

    def test_wake_without_polling_does_nothing(self) -> None:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        sub.wake("q")  # not started
        sub.wake("other")  # not subscribed
        self.clock.advance(10)
        self.assertEqual(self.client.queues["q"].claim_times, [])
        sub.startService()
        self.stop(sub)
        sub.wake("q")  # stopped
        self.clock.advance(10)
        self.assertEqual(self.client.queues["q"].claim_times, [10])

    def test_wake_while_waiting_for_a_slot(self) -> None:
        """Without a free slot a wake-up claims nothing; the claim follows the free slot."""
        sub = self.subscriber(batch=1, concurrency=1)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        q.add(2)
        sub.startService()
        sub.wake("q")
        self.clock.advance(5)
        self.assertEqual(q.claim_times, [0])
        cb.deferreds["m0"].callback(None)
        self.clock.advance(0)
        self.assertEqual(q.claim_times, [0, 5])
        cb.deferreds["m1"].callback(None)
        self.stop(sub)
