"""
Unit tests of the Subscriber's side of push (L{txzaqar.subscriber.push}):
notifications as wake-ups, the safety interval while push is up, the
fallback to polling, notifications that never come; on a L{Clock} with
fake queues and a fake L{IWakeSource}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

import txzaqar
from txzaqar.errors import ClientValidationError
from txzaqar.interfaces import IWakeSource, IWakeTarget
from txzaqar.test.helpers.recording import Recorder
from txzaqar.test.helpers.subscriber import SubscriberTestsMixin


@implementer(IWakeSource)
class FakeSource:
    """An L{IWakeSource} that records what the subscriber asks of it."""

    kind = "fake"

    def __init__(self, start_result: Deferred[None] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.target: Any = None
        self._start_result = start_result

    def start(self, target: Any) -> Deferred[None]:
        self.target = target
        self.calls.append(("start",))
        return self._start_result if self._start_result is not None else succeed(None)

    def watch(self, queue_name: str) -> None:
        self.calls.append(("watch", queue_name))

    def unwatch(self, queue_name: str) -> Deferred[None]:
        self.calls.append(("unwatch", queue_name))
        return succeed(None)

    def stop(self) -> Deferred[None]:
        self.calls.append(("stop",))
        return succeed(None)


class PushTestsMixin(SubscriberTestsMixin):
    def push_subscriber(self, **kw: Any) -> Any:
        self.source = FakeSource()
        kw.setdefault("safety_interval", 60)
        kw.setdefault("jitter", lambda: 0.0)
        return self.subscriber(push=self.source, **kw)


class SourceLifecycleTests(PushTestsMixin, SynchronousTestCase):
    def test_the_subscriber_is_the_target(self) -> None:
        """The subscriber provides IWakeTarget; the source is started, watched, unwatched, stopped."""
        sub = self.push_subscriber()
        self.assertTrue(verifyObject(IWakeTarget, sub))
        self.assertIs(sub.push, self.source)
        sub.subscribe("a", Recorder())
        sub.startService()
        sub.subscribe("b", Recorder())
        self.assertIs(self.source.target, sub)
        self.assertEqual(self.source.calls, [("watch", "a"), ("start",), ("watch", "b")])
        self.successResultOf(sub.unsubscribe("a"))
        self.stop(sub)
        self.assertEqual(self.source.calls[3:], [("unwatch", "a"), ("stop",)])

    def test_push_must_be_a_wake_source(self) -> None:
        e = self.assertRaises(ClientValidationError, self.subscriber, push=object())
        self.assertIn("IWakeSource", str(e))
        for bad in (0, 1e400, "x"):
            self.assertRaises(ClientValidationError, self.subscriber, safety_interval=bad)

    def test_states(self) -> None:
        """Off without a source; down until the source says up."""
        plain = self.subscriber()
        plain.subscribe("q", Recorder())
        self.assertEqual(plain.push_states(), {"q": "off"})
        plain.push_up("q")  # no source: nothing changes
        self.assertEqual(plain.push_states(), {"q": "off"})
        sub = self.push_subscriber()
        sub.subscribe("q", Recorder())
        self.assertEqual(sub.push_states(), {"q": "down"})
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        sub.push_up("unknown")  # ignored
        self.assertEqual(sub.push_states(), {"q": "up"})
        sub.push_down("q", "connection lost")
        self.clock.advance(0)
        self.assertEqual(sub.push_states(), {"q": "down"})
        self.stop(sub)

    def test_a_source_that_cannot_start_leaves_polling(self) -> None:
        source = FakeSource(fail(OSError("port in use")))
        sub = self.subscriber(push=source)
        sub.subscribe("q", Recorder())
        sub.startService()
        self.assertIsInstance(sub.push_start_error, OSError)
        self.assertIn("could not start", " ".join(self.event_formats()))
        self.clock.pump([1] * 3)
        self.assertEqual(self.client.queues["q"].claim_times, [0, 1, 3])
        self.stop(sub)

    def test_client_subscriber_push_names(self) -> None:
        """C{client.subscriber(push=...)}: a source, "websocket" (needs a URL without Keystone), or refused."""
        client = txzaqar.connect("http://127.0.0.1:1", project_id="p", reactor=self.clock)
        source = FakeSource()
        self.assertIs(client.subscriber(clock=self.clock, push=source).push, source)
        e = self.assertRaises(ClientValidationError, client.subscriber, clock=self.clock, push="websocket")
        self.assertIn("WebSocket URL", str(e))
        e = self.assertRaises(ClientValidationError, client.subscriber, clock=self.clock, push="carrier-pigeon")
        self.assertIn("'websocket'", str(e))
        self.assertRaises(ClientValidationError, txzaqar.connect, "http://127.0.0.1:1", project_id="p",
                          reactor=self.clock, websocket_url="http://127.0.0.1:2")


class PushRequestMetricTests(PushTestsMixin, SynchronousTestCase):
    def test_requests_of_a_source_of_its_own(self) -> None:
        """A source that counts requests_sent (WebSocket) shows them as txzaqar_push_requests_total."""
        sub = self.push_subscriber()
        registry = sub.metrics.registry
        self.assertIsNone(registry.get_sample_value("txzaqar_push_requests_total", {"kind": "fake"}))
        self.source.requests_sent = 7  # type: ignore[attr-defined]
        self.assertEqual(registry.get_sample_value("txzaqar_push_requests_total", {"kind": "fake"}), 7)


class SafetyIntervalTests(PushTestsMixin, SynchronousTestCase):
    def test_idle_polling_slows_while_push_is_up(self) -> None:
        """push_up claims once at once, then an idle queue is polled every safety_interval."""
        sub = self.push_subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        sub.startService()
        self.clock.advance(0.5)
        sub.push_up("q")
        self.clock.advance(0)
        self.clock.pump([1] * 200)
        self.assertEqual(q.claim_times, [0, 0.5, 60.5, 120.5, 180.5])
        self.assertEqual(sub.backoff_delays(), {"q": 0.0})
        self.stop(sub)

    def test_safety_waits_are_jittered(self) -> None:
        """
        A quarter at most shorter (the first, up to all of it), so that many
        idle queues do not poll together.
        """
        sub = self.push_subscriber(jitter=lambda: 0.5)
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        self.clock.pump([0.5] * 220)
        self.assertEqual(q.claim_times[:4], [0, 0, 30, 82.5])
        self.stop(sub)

    def test_many_queues_share_a_safety_rate(self) -> None:
        """
        With more than safety_interval * safety_rate queues (less the waits'
        mean shortening), each one's safety interval grows so that the safety
        polls of all of them average safety_rate per second; readiness
        expects that interval.
        """
        sub = self.push_subscriber(safety_interval=60, safety_rate=0.0625)  # 0.0625 x 0.875 x 128 = 7
        names = [f"q{i}" for i in range(7)]
        for name in names:
            sub.subscribe(name, Recorder())
        self.assertEqual(sub.effective_safety_interval(), 128.0)
        sub.startService()
        for name in names:
            sub.push_up(name)
        self.clock.advance(0)
        self.clock.pump([1] * 300)
        self.assertEqual(self.client.queues["q0"].claim_times, [0, 0, 128, 256])
        polls = sum(len(self.client.queues[name].claim_times) for name in names)
        self.assertEqual(polls, 7 * 4)  # 7 queues x (start, push up, 2 safety polls) in 300 s
        self.assertEqual(sub.poll_intervals()["q0"], 128.0)
        self.clock.advance(127 - (self.clock.seconds() - 256))
        self.assertTrue(sub.health().ready, sub.health().reasons)
        self.successResultOf(sub.unsubscribe(names[3:]))
        self.assertEqual(sub.effective_safety_interval(), 60.0)
        self.stop(sub)

    def test_first_safety_wait_spreads_queues_whose_push_came_up_together(self) -> None:
        """
        The first safety wait after push comes up is shortened by up to all
        of it (the later ones by up to a quarter): queues whose push came up
        at once do not make their safety polls in a burst.
        """
        sub = self.push_subscriber(safety_interval=100, jitter=lambda: 0.9)
        sub.subscribe("a", Recorder())
        sub.startService()
        sub.push_up("a")
        self.clock.advance(0)
        self.clock.pump([0.5] * 400)
        a = self.client.queues["a"].claim_times
        self.assertEqual(a[2] - a[1], 10.0)  # the first: 100 x (1 - 0.9)
        self.assertEqual(a[3] - a[2], 77.5)  # later: 100 x (1 - 0.25 x 0.9)
        sub.push_down("a", "test")
        self.clock.advance(0)
        sub.push_up("a")  # up again: the first wait is spread again
        self.clock.advance(0)
        before = len(a)
        self.clock.pump([0.5] * 30)
        self.assertEqual(a[before] - a[before - 1], 10.0)
        self.stop(sub)

    def test_a_notification_claims_at_once(self) -> None:
        sub = self.push_subscriber()
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        self.clock.advance(10)
        q.add(1)
        sub.wake("q")
        self.clock.advance(0)
        self.assertEqual(q.claim_times, [0, 0, 10])
        self.assertEqual(cb.ids(), ["m0"])
        self.assertEqual((sub.stats["notifications"], sub.stats["wakeups"]), (1, 1))
        self.assertEqual(sub.queue_stats()["q"]["notifications"], 1)
        self.stop(sub)

    def test_notifications_during_a_claim_coalesce(self) -> None:
        """Ten notifications while a claim is in flight: one more claim, not ten."""
        sub = self.push_subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        self.clock.advance(5)
        q.manual = True
        sub.wake("q")
        self.clock.advance(0)
        for _ in range(9):
            sub.wake("q")
        q.answer()
        self.clock.advance(0)
        self.assertEqual(q.claim_times, [0, 0, 5, 5])
        q.answer()
        self.clock.pump([1] * 59)
        # the claim after the notifications came back empty: once more a poll_interval later
        self.assertEqual(q.claim_times, [0, 0, 5, 5, 6])
        # one cut the safety wait short, one made a claim follow the one in flight
        self.assertEqual((sub.stats["notifications"], sub.stats["wakeups"]), (10, 2))
        q.answer()  # the recheck, empty: the safety interval follows
        self.clock.advance(0)
        q.manual = False
        self.stop(sub)

    def test_notified_before_stored(self) -> None:
        """
        Zaqar notifies before it stores the message (webhooks go out from a
        thread pool ahead of storage): the claim the notification causes is
        empty, and the queue claims once more a poll_interval later, not a
        safety interval later.
        """
        sub = self.push_subscriber()
        cb = Recorder()
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        self.clock.advance(10)
        sub.wake("q")  # the notification...
        self.clock.advance(0)
        q.add(1)  # ...and the message stored just after the claim it caused
        self.clock.advance(1)
        self.assertEqual(cb.ids(), ["m0"])
        self.assertEqual(q.claim_times, [0, 0, 10, 11])
        # after a partial claim one more poll_interval later, as always; then the safety
        # interval again: no endless rechecks
        self.clock.pump([1] * 100)
        self.assertEqual(q.claim_times, [0, 0, 10, 11, 12, 72])
        self.stop(sub)

    def test_notifications_are_bounded_by_free_slots(self) -> None:
        """With every slot busy a notification claims nothing until a callback finishes."""
        sub = self.push_subscriber(batch=1, concurrency=1)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        q.add(2)
        sub.wake("q")
        sub.wake("q")
        self.clock.advance(0)
        self.clock.advance(5)
        self.assertEqual(q.claim_times, [0, 0, 0])
        cb.deferreds["m0"].callback(None)
        self.clock.advance(0)
        self.assertEqual(q.claim_times, [0, 0, 0, 5])
        cb.deferreds["m1"].callback(None)
        self.stop(sub)

    def test_fallback_to_polling_and_back(self) -> None:
        """push_down: claim at once, then the usual backoff; push_up again: safety waits."""
        sub = self.push_subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        self.clock.advance(30)
        sub.push_down("q", "connection lost")
        self.clock.advance(0)
        self.clock.pump([1] * 8)
        self.assertEqual(q.claim_times, [0, 0, 30, 31, 33, 37])
        sub.push_up("q")
        self.clock.advance(0)
        self.clock.pump([1] * 100)
        self.assertEqual(q.claim_times[6:], [38, 98])
        self.assertEqual(sub.stats["push_fallbacks"], 1)
        self.assertEqual(sub.stats["push_reconnects"], 1)
        self.stop(sub)

    def test_ready_while_idle_with_push_up(self) -> None:
        """Readiness expects a poll within the safety interval, not max_interval, while push is up."""
        sub = self.push_subscriber(safety_interval=100)
        sub.subscribe("q", Recorder())
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        self.clock.advance(99)
        self.assertTrue(sub.health().ready, sub.health().reasons)
        self.stop(sub)


class MissedNotificationTests(PushTestsMixin, SynchronousTestCase):
    def test_messages_no_notification_announced(self) -> None:
        """
        A safety poll that finds messages no notification announced:
        logged once, the queue polled as usual until a notification comes.
        """
        sub = self.push_subscriber()
        cb = Recorder()
        sub.subscribe("q", cb)
        sub.subscribe("r", Recorder())
        q, r = self.client.queues["q"], self.client.queues["r"]
        sub.startService()
        sub.push_up("q")
        sub.push_up("r")
        self.clock.advance(0)
        q.add(1)
        r.add(1)
        self.clock.advance(60)
        self.assertEqual(cb.ids(), ["m0"])
        self.assertEqual(sub.push_states(), {"q": "unverified", "r": "unverified"})
        self.assertEqual(sub.stats["push_missed"], 2)
        warnings = [f for f in self.event_formats() if "message_pipeline" in f]
        self.assertEqual(len(warnings), 1)
        self.clock.pump([1] * 4)  # polled as usual: after poll_interval, then backing off
        self.assertEqual(q.claim_times, [0, 0, 60, 61, 62, 64])
        sub.wake("q")  # a notification: trusted again
        self.clock.advance(0)
        self.assertEqual(sub.push_states()["q"], "up")
        self.clock.pump([1] * 100)
        # its claim came back empty: once more after poll_interval, then the safety interval
        self.assertEqual(q.claim_times[6:], [64, 65, 125])
        self.stop(sub)

    def test_announced_messages_are_not_missed(self) -> None:
        """Messages a notification announced, or found by a claim a wake-up made, are no miss."""
        sub = self.push_subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        q.add(1)
        sub.wake("q")
        self.clock.advance(0)
        self.clock.advance(30)
        q.add(25)  # a full claim, and the claims right after it, are not safety polls
        sub.wake("q")
        self.clock.advance(0)
        self.clock.pump([1] * 100)
        self.assertEqual(sub.stats["claimed"], 26)
        self.assertEqual(sub.stats["push_missed"], 0)
        self.assertEqual(sub.push_states(), {"q": "up"})
        self.stop(sub)


class ReturnedMessagesTests(PushTestsMixin, SynchronousTestCase):
    """Messages claimable again without a post (so without a notification) are claimed anyway."""

    def start_with_one_message(self, **kw: Any) -> tuple[Any, Recorder, Any]:
        sub = self.push_subscriber(**kw)
        cb = Recorder("deferred")
        sub.subscribe("q", cb)
        q = self.client.queues["q"]
        sub.startService()
        sub.push_up("q")
        self.clock.advance(0)
        q.add(1)
        sub.wake("q")
        self.clock.advance(0)
        self.assertEqual(cb.ids(), ["m0"])
        return sub, cb, q

    def test_a_released_claim_wakes_the_queue(self) -> None:
        """A failed callback: its claim is released, and claimed again at once, not at the safety poll."""
        sub, cb, q = self.start_with_one_message()
        self.clock.advance(5)
        cb.deferreds.pop("m0").errback(RuntimeError("try again"))
        self.clock.advance(0)
        self.assertEqual(sub.stats["released"], 1)
        self.assertEqual(cb.ids(), ["m0", "m0"])
        self.assertEqual(q.claim_times[-1], 5)
        cb.deferreds.pop("m0").callback(None)
        self.flushLoggedErrors(RuntimeError)
        self.stop(sub)

    def test_a_claim_left_to_expire_wakes_the_queue_when_expired(self) -> None:
        """A message that failed before is left to its claim's expiry: the queue is woken then."""
        sub, cb, q = self.start_with_one_message(claim_ttl=90)
        sub._failures.failed("m0")
        cb.deferreds.pop("m0").errback(RuntimeError("again"))
        self.clock.advance(0)
        self.assertEqual(sub.stats["left_to_expire"], 1)
        self.clock.pump([1] * 100)
        # start, push_up, the notification; poll_interval after that partial
        # claim, then safety polls (60 s), and the expiry (ttl + 1 s)
        self.assertEqual(q.claim_times, [0, 0, 0, 1, 61, 91])
        self.flushLoggedErrors(RuntimeError)
        self.stop(sub)

    def test_nothing_pending_after_stop(self) -> None:
        """A wake-up waiting for an expiry is cancelled when the subscriber stops."""
        sub, cb, q = self.start_with_one_message(claim_ttl=90)
        sub._failures.failed("m0")
        cb.deferreds.pop("m0").errback(RuntimeError("again"))
        self.clock.advance(0)
        self.flushLoggedErrors(RuntimeError)
        self.stop(sub)
        self.assertEqual(self.clock.getDelayedCalls(), [])
