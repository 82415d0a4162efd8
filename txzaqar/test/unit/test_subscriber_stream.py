"""
Unit tests for the pull stream (L{txzaqar.subscriber.Subscriber.listen}).
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from txzaqar.test.helpers.subscriber import SubscriberTestsMixin


class ListenTests(SubscriberTestsMixin):
    def test_listen_acks_on_next(self) -> None:
        """A yielded message is deleted when the next one is asked for."""
        sub = self.subscriber(batch=3)
        sub.subscribe("q")
        q = self.client.queues["q"]
        q.add(3)
        got: list[str] = []
        gate: list[Deferred[None]] = []

        async def consume() -> None:
            async for message in sub.listen():
                got.append(message.id)
                d: Deferred[None] = Deferred()
                gate.append(d)
                await d

        done = Deferred.fromCoroutine(consume())
        sub.startService()
        self.assertEqual(got, ["m0"])
        gate[-1].callback(None)
        self.assertEqual(got, ["m0", "m1"])
        self.assertEqual(q.deletes(), [])
        self.clock.advance(1)  # ack_delay
        self.assertEqual(q.deletes(), [["m0"]])
        gate[-1].callback(None)
        gate[-1].callback(None)
        self.assertEqual(q.deletes()[-1], ["m1", "m2"])
        stopping = sub.stopService()
        self.successResultOf(stopping)
        self.successResultOf(done)
        self.assertEqual(q.released(), [])

    def test_listen_aclose_releases(self) -> None:
        sub = self.subscriber(batch=2)
        sub.subscribe("q")
        q = self.client.queues["q"]
        q.add(2)
        sub.startService()
        listener = sub.listen()
        first = self.successResultOf(Deferred.fromCoroutine(listener.__anext__()))
        self.assertEqual(first.id, "m0")
        self.successResultOf(Deferred.fromCoroutine(listener.aclose()))
        self.stop(sub)  # m1 was never taken: released with m0
        self.assertEqual(q.released(), ["c1"])
        self.assertEqual(q.deletes(), [])
        self.assertEqual(sub.stats["failed"], 0)
        self.assertEqual(sub.stats["released"], 2)
