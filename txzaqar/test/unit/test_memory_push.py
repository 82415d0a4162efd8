"""
Tests of L{txzaqar.testing.MemoryPush}: the in-memory Zaqar's push
notifications, delivered through its clock, per project and queue, and
the test controls (disconnect, reconnect, lost notifications).
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from txzaqar.interfaces import IWakeSource
from txzaqar.test.helpers.recording import RecordingTarget
from txzaqar.testing import MemoryPush, memory_client


class MemoryPushTests(SynchronousTestCase):

    def setUp(self) -> None:
        self.client, self.fake = memory_client()
        self.clock = self.fake.clock
        self.push = self.fake.push()
        self.target = RecordingTarget()

    def post(self, queue: str, count: int = 1) -> None:
        self.successResultOf(self.client.queue(queue).post([{"body": i} for i in range(count)]))

    def started(self, *queues: str) -> None:
        for queue in queues:
            self.push.watch(queue)
        self.successResultOf(self.push.start(self.target))
        self.clock.advance(0)
        del self.target.calls[:]

    def test_interface(self) -> None:
        self.assertIsInstance(self.push, MemoryPush)
        self.assertTrue(verifyObject(IWakeSource, self.push))
        self.assertEqual((self.push.kind, self.push.project_id, self.push.state), ("memory", "test", "new"))

    def test_up_on_watch_through_the_clock(self) -> None:
        self.push.watch("a")
        self.successResultOf(self.push.start(self.target))
        self.assertEqual(self.target.calls, [])
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [("push_up", "a")])
        self.push.watch("b")
        self.push.watch("b")
        self.assertEqual(len(self.target.calls), 1)
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [("push_up", "a"), ("push_up", "b")])
        self.assertEqual(self.push.queues_up, frozenset({"a", "b"}))
        self.assertEqual(self.push.state, "started")

    def test_post_wakes_once_per_message(self) -> None:
        """Like Zaqar's notifier: one notification per message, after the post."""
        self.started("q")
        self.post("q", 3)
        self.assertEqual(self.target.calls, [])
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [("wake", "q")] * 3)
        self.assertEqual(self.push.notifications, 3)

    def test_only_watched_queues_of_its_project(self) -> None:
        self.started("q")
        self.post("other")
        other_client, _ = memory_client(fake=self.fake, project_id="elsewhere")
        self.successResultOf(other_client.queue("q").post({"body": 1}))
        elsewhere = self.fake.push(project_id="elsewhere")
        elsewhere_target = RecordingTarget()
        elsewhere.watch("q")
        self.successResultOf(elsewhere.start(elsewhere_target))
        self.post("q")
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [("wake", "q")])
        self.assertEqual(elsewhere_target.calls, [("push_up", "q")])

    def test_not_before_start_nor_after_stop_or_unwatch(self) -> None:
        self.push.watch("q")
        self.post("q")
        self.successResultOf(self.push.start(self.target))
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [("push_up", "q")])
        self.successResultOf(self.push.unwatch("q"))
        self.post("q")
        self.push.watch("r")
        self.clock.advance(0)
        self.successResultOf(self.push.stop())
        self.post("r")
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [("push_up", "q"), ("push_up", "r")])
        self.assertEqual((self.push.state, self.push.queues_up), ("stopped", frozenset()))
        self.assertEqual(self.push.lost, 0)  # no longer told of posts at all

    def test_stop_drops_notifications_in_flight(self) -> None:
        self.started("q")
        self.post("q")
        self.successResultOf(self.push.stop())
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [])
        self.assertEqual((self.push.notifications, self.push.lost), (0, 1))

    def test_disconnect_and_reconnect(self) -> None:
        self.started("a", "b")
        self.push.disconnect()
        self.assertEqual(self.push.state, "disconnected")
        self.clock.advance(0)
        reason = "disconnected (MemoryPush.disconnect)"
        self.assertEqual(self.target.calls, [("push_down", "a", reason), ("push_down", "b", reason)])
        self.assertEqual(self.push.queues_up, frozenset())
        self.post("a")
        self.clock.advance(0)
        self.assertEqual(len(self.target.calls), 2)
        self.assertEqual(self.push.lost, 1)
        self.push.reconnect()
        self.clock.advance(0)
        self.assertEqual(self.target.calls[2:], [("push_up", "a"), ("push_up", "b")])
        self.post("b")
        self.clock.advance(0)
        self.assertEqual(self.target.calls[4:], [("wake", "b")])

    def test_lose_notifications(self) -> None:
        """Lost notifications leave push up and wake nothing: the safety net's case."""
        self.started("q")
        self.push.lose_notifications = True
        self.post("q", 2)
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [])
        self.assertEqual((self.push.lost, self.push.queues_up), (2, frozenset({"q"})))
        self.push.lose_notifications = False
        self.post("q")
        self.clock.advance(0)
        self.assertEqual(self.target.calls, [("wake", "q")])

    def test_no_api_subscription(self) -> None:
        self.started("q")
        self.assertEqual(self.successResultOf(self.client.queue("q").subscriptions()), [])


class SubscriberWithMemoryPushTests(SynchronousTestCase):
    """The Subscriber with a L{MemoryPush}: what users' tests of push look like."""

    def setUp(self) -> None:
        from txzaqar.testing import memory_subscriber

        self.client, self.fake = memory_client()
        self.clock = self.fake.clock
        self.push = self.fake.push()
        self.subscriber, _, _ = memory_subscriber(
            client=self.client, fake=self.fake, push=self.push,
            poll_interval=1.0, max_interval=8.0, safety_interval=300.0, jitter=lambda: 0.0,
        )
        self.seen: list[Any] = []
        self.subscriber.subscribe("q", lambda message: self.seen.append(message.body))
        self.subscriber.startService()
        self.addCleanup(self.stop)
        self.clock.advance(0)

    def stop(self) -> None:
        d = self.subscriber.stopService()
        self.clock.advance(60)
        self.successResultOf(d)

    def post(self, body: Any) -> None:
        self.successResultOf(self.client.queue("q").post({"body": body}))

    def idle(self) -> None:
        """Let the empty queue's polling back off to its longest delay."""
        self.clock.advance(300)

    def test_a_post_wakes_the_subscriber_at_once(self) -> None:
        self.assertEqual(self.subscriber.push_states(), {"q": "up"})
        self.idle()
        self.post(1)
        self.clock.advance(0)
        self.assertEqual(self.seen, [1])
        self.assertEqual(self.push.notifications, 1)

    def test_lost_notifications_fall_back_on_the_safety_interval(self) -> None:
        self.idle()
        self.push.lose_notifications = True
        self.post(2)
        self.clock.advance(1)
        self.assertEqual(self.seen, [])
        self.clock.advance(300)
        self.assertEqual(self.seen, [2])

    def test_disconnected_polls_as_usual(self) -> None:
        self.idle()
        self.push.disconnect()
        self.clock.advance(0)
        self.assertEqual(self.subscriber.push_states(), {"q": "down"})
        self.post(3)
        self.clock.advance(8)
        self.assertEqual(self.seen, [3])
        self.push.reconnect()
        self.clock.advance(0)
        self.assertEqual(self.subscriber.push_states(), {"q": "up"})
