"""
The handler's life in a real C{twistd zaqar-listen} against a real Zaqar
(L{txzaqar.daemon._lifecycle}): set-up before the first subscription,
tear-down after the last message, a set-up that fails ends the start
(exit 75), and the handler's health (its own C{health()}, and a failure
window) reaches C{/readyz}.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

import txzaqar
from txzaqar.test.helpers.daemon import Daemon
from txzaqar.testing import servers

#: A handler with every hook; it records what happens in events.txt, and
#: is unhealthy while unhealthy.txt exists (its text is the reason).
LIFECYCLE_HANDLER = """
import os

def record(line):
    with open("events.txt", "a") as f:
        f.write(line + "\\n")

class Handler:
    def setup(self):
        if os.path.exists("fail-setup"):
            raise ConnectionRefusedError("database not reachable")
        record("setup")

    def teardown(self):
        record("teardown")

    def health(self):
        if os.path.exists("unhealthy.txt"):
            with open("unhealthy.txt") as f:
                return f.read().strip()
        return None

    def __call__(self, message):
        if message.body == "poison":
            raise ValueError("cannot handle this")
        record(f"handle {message.body}")

handle = Handler()
"""


def readyz(port: int) -> tuple[int, str]:
    """C{GET /readyz}: the status and the body (blocking: run it in a thread)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode()
    except urllib.error.URLError as e:  # not listening yet
        return 0, str(e.reason)


class LifecycleTests(unittest.TestCase):
    timeout = 240

    def setUp(self) -> Any:
        return Deferred.fromCoroutine(self._setUp())

    async def _setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="txzaqar-life-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        (self.dir / "lifecycle_handler.py").write_text(LIFECYCLE_HANDLER)
        self.zaqar = servers.shared_zaqar()
        self.client = txzaqar.connect(self.zaqar.url, project_id="lifecycle", reactor=reactor)
        self.addCleanup(self.client.close)
        self.name = f"life-{uuid.uuid4().hex[:8]}"
        self.queue = await self.client.create_queue(self.name)
        self.addCleanup(self.queue.delete)

    def daemon(self, *extra: str) -> Daemon:
        daemon = Daemon(self.dir, ["--url", self.zaqar.url, "--project-id", "lifecycle", "--queue", self.name,
                                   "--handler", "lifecycle_handler:handle", "--poll-interval", "0.2",
                                   "--max-interval", "1", *extra])
        self.addCleanup(daemon.kill)
        return daemon

    def events(self) -> list[str]:
        path = self.dir / "events.txt"
        return path.read_text().splitlines() if path.exists() else []

    async def test_setup_first_teardown_last(self) -> None:
        await self.queue.post({"body": 1})
        daemon = self.daemon()
        await daemon.wait_for(lambda: "handle 1" in self.events(), 60, "the message to be handled")
        log = daemon.log()
        self.assertLess(log.index("lifecycle_handler:handle: set up"), log.index("subscriber started"))
        self.assertIn(await daemon.terminate(), (0, -15))
        self.assertEqual(self.events(), ["setup", "handle 1", "teardown"])
        self.assertIn("handler lifecycle_handler:handle: torn down", daemon.log())

    async def test_setup_failure_ends_the_start(self) -> None:
        (self.dir / "fail-setup").write_text("")
        await self.queue.post({"body": "never"})
        daemon = self.daemon()
        await daemon.wait_for(lambda: daemon.exited, 60, "the daemon to give up", may_exit=True)
        self.assertEqual(daemon.process.returncode, 75, daemon.log()[-2000:])
        [critical] = daemon.lines("critical")
        self.assertIn("cannot start: handler lifecycle_handler:handle set-up failed: "
                      "ConnectionRefusedError: database not reachable", critical)
        self.assertNotIn("subscriber started", daemon.log())
        self.assertNotIn("Traceback", daemon.log())
        self.assertEqual(self.events(), [])

    async def test_health_reaches_readyz(self) -> None:
        """The handler's health(), then a window of failed messages, each make /readyz say so."""
        port = servers.free_port()
        daemon = self.daemon("--metrics", f"tcp:{port}:interface=127.0.0.1", "--handler-failure-window", "2")

        ready: list[tuple[int, str]] = []

        def says(wanted: str) -> bool:
            # a blocking GET of a local port of another process, answered at once
            ready.append(readyz(port))
            return wanted in ready[-1][1]

        async def poll_until(wanted: str) -> None:
            await daemon.wait_for(lambda: says(wanted), 60, f"/readyz to say {wanted!r} (last: {ready[-1:]})")

        await poll_until("ready\n")
        (self.dir / "unhealthy.txt").write_text("database pool exhausted")
        await poll_until("handler lifecycle_handler:handle: database pool exhausted")
        self.assertEqual(ready[-1][0], 503)
        (self.dir / "unhealthy.txt").unlink()
        await poll_until("ready\n")
        await self.queue.post({"body": "poison"})
        await poll_until("every message failed for")
        self.assertEqual(ready[-1][0], 503)
        self.assertIn("last: ValueError", ready[-1][1])
        self.assertIn(await daemon.terminate(), (0, -15))
