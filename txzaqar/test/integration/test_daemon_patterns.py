"""
C{--queue-pattern} in a real C{twistd zaqar-listen} against a real Zaqar:
a queue created after the daemon started, whose name matches the
pattern, is found by the next listing (C{--discovery-interval}) and its
messages reach the handler.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

import txzaqar
from txzaqar.test.helpers.daemon import RECORDING_HANDLER, Daemon
from txzaqar.testing import servers


class PatternCase(unittest.TestCase):
    """A project of its own on C{zaqar()}, a client, and a daemon directory with the recording handler."""

    timeout = 240

    def zaqar(self) -> Any:
        return servers.shared_zaqar()

    def setUp(self) -> Any:
        self.dir = Path(tempfile.mkdtemp(prefix="txzaqar-patterns-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        (self.dir / "recording_handler.py").write_text(RECORDING_HANDLER)
        self.server = self.zaqar()
        self.project = f"patterns-{uuid.uuid4().hex[:6]}"
        self.client = txzaqar.connect(self.server.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)

    def events(self) -> list[str]:
        path = self.dir / "handled.txt"
        return path.read_text().splitlines() if path.exists() else []


class PatternTests(PatternCase):

    def test_queue_created_later_is_consumed(self) -> Any:
        return Deferred.fromCoroutine(self._queue_created_later_is_consumed())

    async def _queue_created_later_is_consumed(self) -> None:
        daemon = Daemon(self.dir, [
            "--url", self.server.url, "--project-id", self.project, "--queue-pattern", "p-*",
            "--discovery-interval", "0.5", "--poll-interval", "0.2", "--max-interval", "1",
            "--handler", "recording_handler:handle"])
        self.addCleanup(daemon.kill)
        await daemon.wait_for(lambda: "subscriber started on" in daemon.log(), 60, "the subscriber to start")
        self.assertNotIn("does not exist", daemon.log())  # the start-up check looks for no pattern's queue
        await self.client.create_queue("other")
        self.addCleanup(self.client.queue("other").delete)
        await self.client.queue("other").post([{"body": "not mine"}])
        await self.client.create_queue("p-later")
        self.addCleanup(self.client.queue("p-later").delete)
        await self.client.queue("p-later").post([{"body": i} for i in range(3)])
        await daemon.wait_for(lambda: len(self.events()) >= 3, 60, "the new queue's messages")
        self.assertEqual(sorted(self.events()), [f"p-later {i}" for i in range(3)])
        self.assertIn("discovered queues: 1 added (p-later), 0 dropped (none)", daemon.log())
        self.assertIn(await daemon.terminate(), (0, -15))
        self.assertNotIn("Traceback", daemon.log())

    def test_pages_larger_than_the_server_allows(self) -> Any:
        """
        --max-queues-per-page above the server's max_queues_per_page (Zaqar's
        default, 20): one warning with Zaqar's refusal and what to check; the
        daemon keeps running and never consumes a queue it did not list.
        """
        return Deferred.fromCoroutine(self._pages_larger_than_the_server_allows())

    async def _pages_larger_than_the_server_allows(self) -> None:
        await self.client.create_queue("p-1")
        self.addCleanup(self.client.queue("p-1").delete)
        await self.client.queue("p-1").post([{"body": "unseen"}])
        port = servers.free_port()
        daemon = Daemon(self.dir, [
            "--url", self.server.url, "--project-id", self.project, "--queue-pattern", "p-*",
            "--discovery-interval", "0.5", "--max-queues-per-page", "1000", "--handler", "recording_handler:handle",
            "--metrics", f"tcp:{port}:interface=127.0.0.1"])
        self.addCleanup(daemon.kill)

        def errors() -> float:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                return 0.0
            return next((s.value for f in text_string_to_metric_families(text) for s in f.samples
                         if s.name == "txzaqar_subscriber_discovery_errors_total"), 0.0)

        # a blocking scrape of another process (a loopback answer in milliseconds)
        await daemon.wait_for(lambda: errors() >= 3, 60, "three failed listings")
        [line] = [line for line in daemon.lines("warn") if "listing the queues" in line]
        self.assertIn("no greater than 20", line)
        self.assertIn("(pages of 1000 queues: is the server's max_queues_per_page lower?)", line)
        self.assertEqual(self.events(), [])  # nothing listed, nothing consumed
        self.assertIn(await daemon.terminate(), (0, -15))
        self.assertNotIn("Traceback", daemon.log())


class PatternPushTests(PatternCase):
    """--queue-pattern with --push websocket: a discovered queue is woken by push, not found by polling."""

    def zaqar(self) -> Any:
        return servers.shared_push_zaqar()

    def test_discovered_queue_woken_by_push(self) -> Any:
        return Deferred.fromCoroutine(self._discovered_queue_woken_by_push())

    async def _discovered_queue_woken_by_push(self) -> None:
        port = servers.free_port()
        daemon = Daemon(self.dir, [
            "--url", self.server.url, "--project-id", self.project, "--queue-pattern", "p-*",
            "--discovery-interval", "0.5", "--push", "websocket", "--websocket-url", str(self.server.websocket_url),
            # once push is up, idle polling waits the safety interval (an hour): a prompt delivery
            # is push's; --poll-interval stays 1 s, the second look after a notification that came
            # before Zaqar stored its message (txzaqar.subscriber.polling)
            "--poll-interval", "1", "--max-interval", "3600", "--safety-interval", "3600",
            "--handler", "recording_handler:handle", "--metrics", f"tcp:{port}:interface=127.0.0.1"])
        self.addCleanup(daemon.kill)
        await daemon.wait_for(lambda: "subscriber started on" in daemon.log(), 60, "the subscriber to start")
        await self.client.create_queue("p-later")
        self.addCleanup(self.client.queue("p-later").delete)

        def push_up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                return False
            return any(s.name == "txzaqar_subscriber_push_up" and s.labels.get("queue") == "p-later" and s.value == 1
                       for f in text_string_to_metric_families(text) for s in f.samples)

        await daemon.wait_for(push_up, 60, "push up for the discovered queue")
        await self.client.queue("p-later").post([{"body": "pushed"}])
        await daemon.wait_for(lambda: self.events() == ["p-later pushed"], 30, "the message, woken by push")
        self.assertIn(await daemon.terminate(), (0, -15))
        self.assertNotIn("Traceback", daemon.log())
