"""
Pattern subscriptions (C{Subscriber.psubscribe}) against a real Zaqar
server (L{txzaqar.testing.servers.shared_zaqar}): a queue created after
C{psubscribe} is found by the periodic discovery and consumed, and a deleted one is dropped.

No fixed sleeps: every wait polls a condition, with a deadline.
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from txzaqar import connect
from txzaqar.subscriber import Subscriber
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing.servers import shared_zaqar


class RealPatternTests(unittest.TestCase):
    timeout = 120

    async def later_queue_is_consumed(self) -> None:
        zaqar = shared_zaqar()
        project = f"txzaqar-pat-{uuid.uuid4().hex[:8]}"
        client = connect(zaqar.url, project_id=project, reactor=reactor)
        self.addCleanup(client.close)
        prefix = f"pat-{uuid.uuid4().hex[:8]}"
        await client.create_queue(f"{prefix}-early")
        await client.create_queue("unrelated")
        seen: list[tuple[str, Any]] = []
        interval = 2.0
        sub = Subscriber(client, clock=reactor, poll_interval=0.2, max_interval=0.5, discovery_interval=interval)
        sub.psubscribe(f"{prefix}-*", lambda m: seen.append((m.queue.name, m.body)))
        sub.startService()
        try:
            await wait_until(lambda: sub.channels == {f"{prefix}-early"}, "the first listing", 10, 0.05)
            later = f"{prefix}-later"
            await client.queue(later).post({"body": "hello"})
            # found by the periodic discovery (nothing here calls discover()); how soon is the
            # benchmark's to measure, not a wall-clock bound in a test on a shared machine
            await wait_until(lambda: (later, "hello") in seen, "the later queue's message", 30, 0.05)
            self.assertEqual(sub.discovered(), {f"{prefix}-early": f"{prefix}-*", later: f"{prefix}-*"})
            self.assertNotIn("unrelated", sub.channels)
            await client.queue(f"{prefix}-early").delete()
            found = await sub.discover()
            self.assertEqual(found.removed, frozenset({f"{prefix}-early"}))
            self.assertEqual(sub.discovery_errors, 0)
        finally:
            await sub.stopService()
            for name in (f"{prefix}-early", f"{prefix}-later", "unrelated"):
                await client.queue(name).delete()

    def test_later_queue_is_consumed(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.later_queue_is_consumed())
