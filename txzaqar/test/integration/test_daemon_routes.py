"""
One handler per queue in a real C{twistd zaqar-listen} against a real
Zaqar (L{txzaqar.daemon._routes}): each routed queue reaches its own
handler, and a route's concurrency holds while the other queues flow.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

import txzaqar
from txzaqar.test.helpers.daemon import Daemon
from txzaqar.testing import servers

#: Two handlers: fast records each message; hold records its start, waits
#: (in its thread) until the test creates "release", then records its end.
ROUTES_HANDLER = """
import os, time

def record(line):
    with open("events.txt", "a") as f:
        f.write(line + "\\n")

def fast(message):
    record(f"fast {message.body}")

def hold(message):
    record(f"start {message.body}")
    while not os.path.exists("release"):
        time.sleep(0.05)
    record(f"end {message.body}")
"""


class RouteTests(unittest.TestCase):
    timeout = 240

    def setUp(self) -> Any:
        return Deferred.fromCoroutine(self._setUp())

    async def _setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="txzaqar-routes-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        (self.dir / "routes_handler.py").write_text(ROUTES_HANDLER)
        self.zaqar = servers.shared_zaqar()
        self.client = txzaqar.connect(self.zaqar.url, project_id="routes", reactor=reactor)
        self.addCleanup(self.client.close)
        suffix = uuid.uuid4().hex[:6]
        self.slow, self.fast = f"slow-{suffix}", f"fast-{suffix}"
        for name in (self.slow, self.fast):
            await self.client.create_queue(name)
            self.addCleanup(self.client.queue(name).delete)

    def events(self, kind: str) -> list[str]:
        path = self.dir / "events.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line for line in lines if line.startswith(kind + " ")]

    async def test_each_queue_its_handler_and_concurrency(self) -> None:
        await self.client.queue(self.slow).post([{"body": i} for i in range(5)])
        daemon = Daemon(self.dir, [
            "--url", self.zaqar.url, "--project-id", "routes", "--concurrency", "10", "--threads", "10",
            "--poll-interval", "0.2", "--max-interval", "1",
            "--route", f"{self.slow}=routes_handler:hold,concurrency=2",
            "--route", f"{self.fast}=routes_handler:fast"])
        self.addCleanup(daemon.kill)
        await daemon.wait_for(lambda: len(self.events("start")) >= 2, 60, "two slow messages to start")
        self.assertEqual(len(self.events("start")), 2, "the slow route ran more than its concurrency")
        # the slow route is full; the fast queue flows meanwhile, in the shared slots
        await self.client.queue(self.fast).post([{"body": i} for i in range(8)])
        await daemon.wait_for(lambda: len(self.events("fast")) == 8, 60, "the fast queue's messages")
        self.assertEqual(len(self.events("start")), 2, "the slow route ran more than its concurrency")
        (self.dir / "release").write_text("")
        await daemon.wait_for(lambda: len(self.events("end")) == 5, 60, "every slow message to finish")
        self.assertEqual(sorted(self.events("end")), [f"end {i}" for i in range(5)])
        self.assertIn(await daemon.terminate(), (0, -15))
        self.assertNotIn("Traceback", daemon.log())
