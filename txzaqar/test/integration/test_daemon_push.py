"""
The installed C{twistd zaqar-listen} with C{--push}, as a process, against
the harness's push Zaqar: woken by WebSocket notifications and by
webhooks, its push state scraped from C{/metrics}, stopped with SIGTERM;
and a webhook port that cannot be listened on ends it at startup.

The safety interval is an hour, so a delivery within a minute
(L{PUSHED_WITHIN}, a bound that does not depend on this machine's speed)
is the notification's doing; ports are chosen at run time, on loopback.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
import uuid
from functools import partial
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.trial import unittest

import txzaqar
from txzaqar.test.helpers.daemon import Daemon
from txzaqar.testing import servers, shared_push_zaqar

#: The bound on a delivery that push alone can meet: a minute, against a
#: safety poll an hour away.
PUSHED_WITHIN = 60.0

#: The handler: appends each body to $PUSH_TEST_RECORD, one line each.
HANDLER = '''
import json, os

def record(message):
    with open(os.environ["PUSH_TEST_RECORD"], "a") as f:
        f.write(json.dumps(message.body) + "\\n")
'''


def scrape(port: int) -> dict[tuple[str, str], float]:
    """C{/metrics}: C{(sample name, queue label) -> value}; empty while nothing listens yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode("utf-8")
    except urllib.error.URLError:
        return {}
    return {(s.name, s.labels.get("queue", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


class DaemonPushTests(unittest.TestCase):
    timeout = 300

    def setUp(self) -> None:
        self.zaqar = shared_push_zaqar()
        self.dir = Path(self.mktemp()).resolve()
        self.dir.mkdir(parents=True)
        (self.dir / "push_test_handler.py").write_text(HANDLER)
        self.record = self.dir / "record.txt"
        self.project = f"daemon-push-{uuid.uuid4().hex[:8]}"
        self.queue = f"pushed-{uuid.uuid4().hex[:8]}"
        self.client = txzaqar.connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)

    def start(self, *push: str) -> tuple[Daemon, int]:
        metrics = servers.free_port()
        daemon = Daemon(self.dir, [
            "--url", self.zaqar.url, "--project-id", self.project, "--queue", self.queue,
            "--handler", "push_test_handler:record", "--safety-interval", "3600",
            "--metrics", f"tcp:{metrics}:interface=127.0.0.1", *push,
        ], env={"PUSH_TEST_RECORD": str(self.record)})
        self.addCleanup(daemon.kill)
        return daemon, metrics

    def delivered(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []

    async def deliver(self, daemon: Daemon, metrics: int) -> dict[tuple[str, str], float]:
        """Push up, five posts delivered within L{PUSHED_WITHIN} each; the final scrape."""
        await daemon.wait_for(lambda: scrape(metrics).get(("txzaqar_subscriber_push_up", self.queue)) == 1.0,
                              60, "push up in /metrics")
        took = []
        for i in range(5):
            began = time.monotonic()
            await self.client.queue(self.queue).post({"body": {"i": i}})
            await daemon.wait_for(partial(lambda n: len(self.delivered()) == n, i + 1), PUSHED_WITHIN * 2,
                                  f"message {i}")
            took.append(time.monotonic() - began)
        self.assertLess(max(took), PUSHED_WITHIN, took)
        return scrape(metrics)

    async def test_websocket(self) -> None:
        daemon, metrics = self.start("--push", "websocket", "--websocket-url", str(self.zaqar.websocket_url))
        scraped = await self.deliver(daemon, metrics)
        self.assertGreaterEqual(scraped[("txzaqar_subscriber_notifications_total", self.queue)], 5)
        self.assertEqual(scraped[("txzaqar_subscriber_push_missed_total", self.queue)], 0)
        self.assertIn("WebSocket push up", daemon.log())
        self.assertEqual(await daemon.terminate(), -15)
        self.assertEqual((await self.client.queue(self.queue).stats()).total, 0)
        await self.client.queue(self.queue).delete()

    async def test_webhook(self) -> None:
        hook = servers.free_port()
        daemon, metrics = self.start("--push", "webhook", "--webhook-listen", f"tcp:{hook}:interface=127.0.0.1",
                                     "--webhook-url", f"http://127.0.0.1:{hook}/hooks")
        scraped = await self.deliver(daemon, metrics)
        self.assertGreaterEqual(scraped[("txzaqar_subscriber_notifications_total", self.queue)], 5)
        subscriptions = [s async for s in self.client.queue(self.queue).iter_subscriptions()]
        self.assertEqual(len(subscriptions), 1)
        subscriber = str(subscriptions[0].subscriber)
        self.assertTrue(subscriber.startswith(f"http://127.0.0.1:{hook}/hooks/"), subscriber)
        secret = subscriber.rsplit("/", 1)[1]
        self.assertNotIn(secret, daemon.log())  # the secret path is never logged
        self.assertEqual(await daemon.terminate(), -15)
        # stopping deletes the subscription
        self.assertEqual([s async for s in self.client.queue(self.queue).iter_subscriptions()], [])
        await self.client.queue(self.queue).delete()

    async def test_webhook_port_in_use(self) -> None:
        """The operator asked for push it cannot have: exit status 71, one critical line."""
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        port = taken.getsockname()[1]
        daemon, _ = self.start("--push", "webhook", "--webhook-listen", f"tcp:{port}:interface=127.0.0.1",
                               "--webhook-url", f"http://127.0.0.1:{port}/hooks")
        await daemon.wait_for(lambda: daemon.exited, 60, "the daemon to exit", may_exit=True)
        self.assertEqual(daemon.process.returncode, 71, daemon.log()[-3000:])
        critical = daemon.lines("critical")
        self.assertEqual(len(critical), 1, daemon.log()[-3000:])
        self.assertIn("push could not start", critical[0])
        self.assertNotIn("Traceback", daemon.log())
