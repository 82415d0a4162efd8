"""
A Subscriber on an encrypted queue of a real Zaqar 23.0.1, whose claims
return ciphertext (quirk 5 of L{txzaqar.testing.quirks}): no callback ever receives ciphertext, and
nothing is acknowledged that was not delivered as posted.

No fixed sleeps: every wait polls a condition, with a generous deadline.
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet import reactor
from twisted.trial import unittest

from txzaqar import connect
from txzaqar.api import _paths
from txzaqar.subscriber import Subscriber
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing.servers import shared_zaqar


def distinct_bodies(count: int) -> list[Any]:
    """C{count} distinct bodies of several JSON kinds (dicts, strings, numbers, lists)."""
    kinds = [
        lambda i: {"n": i, "kind": "dict", "nested": {"\u00e9": [i, None, True]}},
        lambda i: f"text {i} \u2603",
        lambda i: i,
        lambda i: [i, "list", {"x": i}],
        lambda i: i + 0.5,
        lambda i: f"{i}" * 40,
    ]
    return [kinds[i % len(kinds)](i) for i in range(count)]


class EncryptedSubscriberTests(unittest.TestCase):
    """The Subscriber against a real encrypted queue."""

    timeout = 120

    def setUp(self) -> None:
        self.zaqar = shared_zaqar()
        self.project = f"txzaqar-enc-{uuid.uuid4().hex[:8]}"
        self.client = connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)

    async def test_callbacks_never_receive_ciphertext(self) -> None:
        name = f"enc-{uuid.uuid4().hex[:12]}"
        queue = self.client.queue(name)
        self.addCleanup(queue.delete)
        await queue.create({"_enable_encrypt_messages": True})
        bodies = distinct_bodies(60)
        ids = await queue.post([{"body": b} for b in bodies])
        posted = dict(zip(ids, bodies, strict=True))
        # the server really does hand out ciphertext on a claim (else this test proves nothing)
        raw = await self.client.connection.post(_paths.claims(queue.name).path, params={"limit": 1}, body={})
        [wire] = raw.json["messages"]
        self.assertNotEqual(wire["body"], posted[wire["id"]])
        await self.client.connection.delete(_paths.claim(queue.name, raw.location.rsplit('/', 1)[-1]).path)
        delivered: dict[str, Any] = {}
        wrong: dict[str, Any] = {}

        def callback(message: Any) -> None:
            if message.body != posted.get(message.id):
                wrong[message.id] = message.body
                raise AssertionError(f"{message.id} delivered as {message.body!r:.60}")
            delivered[message.id] = message.body

        sub = Subscriber(connect(self.zaqar.url, project_id=self.project, reactor=reactor), clock=reactor,
                         close_client=True, batch=7, concurrency=10, poll_interval=0.2, max_interval=1)
        self.addCleanup(lambda: sub.stopService() if sub.running else None)
        sub.subscribe(name, callback)
        sub.startService()
        await wait_until(lambda: len(delivered) + len(wrong) >= len(ids), "every message delivered")
        await wait_until(lambda: sub.stats["acked"] >= len(delivered), "every delivery acknowledged")
        await sub.stopService()
        self.assertEqual(wrong, {})
        self.assertEqual(delivered, posted)
        self.assertEqual((sub.stats["acked"], sub.stats["failed"]), (len(ids), 0))
        stats = await queue.stats()
        self.assertEqual((stats.total, stats.claimed), (0, 0))
