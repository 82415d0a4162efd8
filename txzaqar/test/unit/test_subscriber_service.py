"""
L{txzaqar.subscriber.service.Subscriber}: subscribing, pull-only queues and who owns a queue.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.errors import ClientValidationError
from txzaqar.testing import memory_subscriber


class PullOnlyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.sub, self.client, self.fake = memory_subscriber(batch=5, stop_timeout=30, poll_interval=1)
        self.queue = self.client.queue("pull")
        self.successResultOf(self.queue.post([{"body": i} for i in range(3)]))

    def tearDown(self) -> None:
        d = self.sub.stopService()
        self.fake.clock.advance(60)
        self.successResultOf(d)

    def stats(self) -> Any:
        return self.successResultOf(self.queue.stats())

    def test_unsubscribe_without_reader_releases_at_once(self) -> None:
        """
        Unsubscribing a pull-only queue no reader took messages from
        releases its claim at once (not after C{stop_timeout}), and no later
        reader is handed those messages.
        """
        self.sub.subscribe("pull")
        self.sub.startService()
        self.fake.clock.advance(1)
        self.assertEqual(self.stats().claimed, 3)
        d = self.sub.unsubscribe("pull")
        self.successResultOf(d)  # without advancing the clock
        self.assertEqual((self.stats().claimed, self.stats().free), (0, 3))
        # a later reader (of another pull-only queue) is not handed the old messages
        self.sub.subscribe("other")
        nxt = Deferred.fromCoroutine(self.sub.listen().__anext__())
        self.assertNoResult(nxt)
        nxt.cancel()
        self.failureResultOf(nxt)

    def test_listen_without_pull_subscription_ends(self) -> None:
        """C{listen()} with no queue subscribed without a callback ends at once."""
        self.sub.subscribe("pull", callback=lambda m: None)
        self.sub.startService()
        d = Deferred.fromCoroutine(self.sub.listen().__anext__())
        self.failureResultOf(d, StopAsyncIteration)

    def test_listen_ends_when_last_pull_queue_unsubscribed(self) -> None:
        self.successResultOf(self.client.queue("empty").create())
        self.sub.subscribe("empty")
        self.sub.startService()
        d = Deferred.fromCoroutine(self.sub.listen().__anext__())
        self.assertNoResult(d)
        self.successResultOf(self.sub.unsubscribe("empty"))
        self.failureResultOf(d, StopAsyncIteration)


class SubscriberOwnershipTests(SynchronousTestCase):
    """The client is its maker's: a Subscriber given one can stop and start again."""

    def test_stop_start_stop(self) -> None:
        sub, client, fake = memory_subscriber(poll_interval=1)
        seen: list[Any] = []
        sub.subscribe("q", lambda m: seen.append(m.body))
        queue = client.queue("q")
        self.successResultOf(queue.post({"body": 1}))
        sub.startService()
        fake.clock.advance(2)
        self.successResultOf(sub.stopService())
        self.successResultOf(queue.post({"body": 2}))  # the client still works
        sub.startService()
        fake.clock.advance(2)
        self.successResultOf(sub.stopService())
        self.assertEqual(seen, [1, 2])
        self.assertEqual(sub.stats.get("failed", 0), 0)
        self.assertEqual(self.successResultOf(queue.stats()).total, 0)  # both acknowledged

    def test_second_subscribe_is_typed(self) -> None:
        sub, _, _ = memory_subscriber()
        sub.subscribe("q", lambda m: None)
        e = self.assertRaises(ClientValidationError, sub.subscribe, "q", lambda m: None)
        self.assertIsInstance(e, ValueError)  # callers catching ValueError still work
        self.assertEqual(e.field, "queue_name")
