"""
The README's push section, run: its WebSocket block against the harness's
push Zaqar (only the example URLs replaced), its webhook block with a free
loopback port, and its Zaqar configuration compared with the configuration
the harness's push servers run with (the ones these tests get
notifications from).
"""

from __future__ import annotations

import configparser
import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

import txzaqar
from txzaqar.test import readme
from txzaqar.test.helpers.readme_code import Printed, comment_of, run_block
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing import shared_push_zaqar
from txzaqar.testing.servers import free_port

SECTION = "Push: messages in milliseconds"
#: The WebSocket URL the README shows.
WEBSOCKET_PLACEHOLDER = "ws://127.0.0.1:9000"


class PushBlockTests(unittest.TestCase):
    timeout = 120

    def setUp(self) -> None:
        self.zaqar = shared_push_zaqar()
        self.project = f"readme-push-{uuid.uuid4().hex[:8]}"
        self.poster = txzaqar.connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.poster.close)

    async def websocket(self) -> None:
        """
        Namespace: C{handle} (records bodies), C{print}; the block's
        C{project_id} is this test's own.  A message posted after push is
        up reaches C{handle} through a notification (the safety poll is 300 s away).
        """
        block = readme.find_block(SECTION, "client = txzaqar.connect(")
        handled: list[Any] = []
        printed = Printed()
        namespace: dict[str, Any] = {"txzaqar": txzaqar, "handle": handled.append, "print": printed}
        await run_block(block, namespace, self.zaqar.url, {
            WEBSOCKET_PLACEHOLDER: str(self.zaqar.websocket_url),
            'project_id="demo"': f'project_id="{self.project}"',
        })
        subscriber = namespace["subscriber"]
        try:
            self.assertEqual(printed.lines, [comment_of(block, "print(subscriber.push_states())").split(" (")[0]])
            self.assertEqual(subscriber.safety_interval, 300.0)
            await wait_until(lambda: subscriber.push_states() == {"orders": "up"}, "push up")
            await self.poster.queue("orders").post({"body": {"order": 7}})
            await wait_until(lambda: len(handled) == 1, "the order to be handled", timeout=30)
            self.assertGreaterEqual(subscriber.stats["notifications"], 1)
        finally:
            await subscriber.stopService()
            await namespace["client"].close()  # the block's: the Subscriber leaves it open
        self.assertEqual([m.body for m in handled], [{"order": 7}])
        self.assertEqual((await self.poster.queue("orders").stats()).total, 0)

    def test_websocket(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.websocket())

    async def webhook(self) -> None:
        """
        Namespace: C{client} (of this test's project), C{reactor}.  The
        public URL and the listening endpoint get a free loopback port;
        then the block's subscriber is woken by Zaqar's webhook POST.
        """
        block = readme.find_block(SECTION, "from txzaqar.push import WebhookPush")
        port = free_port()
        client = txzaqar.connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(client.close)  # the Subscriber leaves the caller's client open
        namespace: dict[str, Any] = {"client": client, "reactor": reactor}
        await run_block(block, namespace, self.zaqar.url, {
            "https://consumer.example.com/zaqar-hooks": f"http://127.0.0.1:{port}/zaqar-hooks",
            "tcp:8090:interface=0.0.0.0": f"tcp:{port}:interface=127.0.0.1",
        })
        subscriber = namespace["subscriber"]
        handled: list[Any] = []
        queue = f"hooked-{uuid.uuid4().hex[:8]}"
        subscriber.subscribe(queue, handled.append)
        subscriber.startService()
        try:
            await wait_until(lambda: subscriber.push_states() == {queue: "up"}, "webhook push up")
            await self.poster.queue(queue).post({"body": "hook"})
            await wait_until(lambda: len(handled) == 1, "the message to be handled", timeout=30)
            self.assertGreaterEqual(subscriber.stats["notifications"], 1)
        finally:
            await subscriber.stopService()
        await self.poster.queue(queue).delete()

    def test_webhook(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.webhook())


class ZaqarConfigurationTests(unittest.TestCase):
    """The README's C{[storage]}/WebSocket settings are the ones the harness's push servers run with."""

    def test_same_settings(self) -> None:
        zaqar = shared_push_zaqar()
        block = readme.find_block(SECTION, "[storage]")
        shown = configparser.ConfigParser(interpolation=None)
        shown.read_string(block.text)
        running = configparser.ConfigParser(interpolation=None, strict=False)
        running.read([zaqar.config_file, zaqar.websocket.config_file])  # type: ignore[union-attr]
        ports = {"port", "notification_port"}
        for section in shown.sections():
            for option, value in shown.items(section):
                where = f"[{section}] {option}"
                self.assertTrue(running.has_option(section, option), f"the harness has no {where}")
                if option in ports:
                    self.assertTrue(running.get(section, option).isdigit(), where)
                else:
                    self.assertEqual(running.get(section, option), value, where)
