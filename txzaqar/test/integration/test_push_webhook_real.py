"""
L{txzaqar.push.WebhookPush} against a real Zaqar with the notifier
pipeline (C{[storage] message_pipeline = zaqar.notification.notifier};
L{txzaqar.testing.servers.shared_push_zaqar}), and against one with
C{[notification] require_confirmation = true}: the notifier POSTs to the
source on a free loopback port, and a message posted over HTTP wakes a
recording target.

No fixed sleeps: every wait polls a condition, with a generous deadline.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from typing import Any

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import deferLater
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface import implementer

from txzaqar import connect
from txzaqar.interfaces import IWakeTarget
from txzaqar.push import WebhookPush
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing.servers import shared_push_zaqar


@implementer(IWakeTarget)
class RecordingTarget:
    """Records what it is told, with the time (C{time.monotonic}) it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, str]] = []

    def wake(self, queue_name: str) -> None:
        self.calls.append((time.monotonic(), "wake", queue_name))

    def push_up(self, queue_name: str) -> None:
        self.calls.append((time.monotonic(), "push_up", queue_name))

    def push_down(self, queue_name: str, reason: str) -> None:
        self.calls.append((time.monotonic(), "push_down", queue_name))

    def times(self, kind: str, queue_name: str) -> list[float]:
        return [t for t, k, q in self.calls if (k, q) == (kind, queue_name)]


class WebhookRealTests(unittest.TestCase):
    timeout = 300
    require_confirmation = False

    def setUp(self) -> None:
        self.zaqar = shared_push_zaqar(require_confirmation=self.require_confirmation)
        self.project = f"txzaqar-hook-{uuid.uuid4().hex[:8]}"
        self.client = connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)
        self.target = RecordingTarget()

    def queue_name(self) -> str:
        name = f"hook-{uuid.uuid4().hex[:12]}"
        self.addCleanup(lambda: self.client.queue(name).delete())
        return name

    async def started(self, **kwargs: Any) -> WebhookPush:
        kwargs.setdefault("listen", "tcp:0:interface=127.0.0.1")
        push = WebhookPush(self.client, "http://127.0.0.1:0/hooks", reactor, **kwargs)
        await push.start(self.target)
        self.addCleanup(push.stop)
        return push

    async def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        await wait_until(condition, what, timeout, 0.002)

    async def watched(self, push: WebhookPush) -> str:
        name = self.queue_name()
        push.watch(name)
        await self.wait_for(lambda: name in push.queues_up, 30, f"push_up of {name}")
        return name

    def http(self) -> HTTPClient:
        pool = HTTPConnectionPool(reactor, persistent=False)
        return HTTPClient(Agent(reactor, pool=pool))

    async def test_posts_wake_the_target(self) -> None:
        """Each message posted over HTTP wakes the target once; p50 post-to-wake latency."""
        push = await self.started()
        name = await self.watched(push)
        self.assertEqual(self.target.times("push_up", name), self.target.times("push_up", name)[:1])
        [subscription] = await self.client.queue(name).subscriptions()
        self.assertEqual(subscription.subscriber, push.subscriber_url)
        self.assertTrue(subscription.confirmed)
        latencies = []
        for i in range(50):
            started = time.monotonic()
            await self.client.queue(name).post({"body": {"i": i}})
            await self.wait_for(lambda n=i + 1: len(self.target.times("wake", name)) >= n, 30, f"wake {i}")
            latencies.append(self.target.times("wake", name)[i] - started)
        self.assertEqual(push.notifications, 50)
        self.assertEqual((push.rejected, push.ignored), (0, 0))
        p50 = statistics.median(latencies) * 1000
        print(f"\n  webhook post->wake over 50 posts: p50 {p50:.1f} ms, min {min(latencies) * 1000:.1f} ms, "
              f"max {max(latencies) * 1000:.1f} ms", file=sys.stderr)

    async def test_batch_post_wakes_per_message(self) -> None:
        push = await self.started()
        name = await self.watched(push)
        await self.client.queue(name).post([{"body": i} for i in range(5)])
        await self.wait_for(lambda: len(self.target.times("wake", name)) >= 5, 30, "5 wakes")

    async def test_wrong_path_and_bad_body(self) -> None:
        """A POST on a wrong path is a 404, a bad body a 400; neither wakes."""
        push = await self.started()
        name = await self.watched(push)
        http = self.http()
        good = push.subscriber_url
        base = good.rsplit("/", 1)[0]
        body = json.dumps({"Message_Type": "Notification", "queue_name": name, "body": 1}).encode()
        for url, data, status in [
            (base + "/guessed", body, 404),
            (base, body, 404),
            (good + "/", body, 404),
            (good, b"not json", 400),
            (good, json.dumps({"Message_Type": "Notification"}).encode(), 400),
            (good, b"x" * (64 * 1024 + 1), 413),
        ]:
            response = await http.post(url, data=data)
            await response.content()
            self.assertEqual(response.code, status, url.replace(good, "<good>"))
        self.assertEqual(self.target.times("wake", name), [])
        self.assertEqual(push.rejected, 6)
        response = await http.post(good, data=body)  # the control: the right path and body wake
        await response.content()
        self.assertEqual(response.code, 204)
        self.assertEqual(len(self.target.times("wake", name)), 1)

    async def test_unwatch_and_stop_delete_the_subscriptions(self) -> None:
        push = await self.started()
        first = await self.watched(push)
        second = await self.watched(push)
        await push.unwatch(first)
        self.assertEqual(await self.client.queue(first).subscriptions(), [])
        self.assertEqual(len(await self.client.queue(second).subscriptions()), 1)
        url = push.subscriber_url
        await push.stop()
        self.assertEqual(await self.client.queue(second).subscriptions(), [])
        with self.assertRaises(ConnectionRefusedError):  # no longer listening
            await self.http().post(url, data=b"{}")

    async def test_mounted_by_the_application(self) -> None:
        """With C{listen=None}, the application's own site serves C{push.resource}."""
        root = Resource()
        port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")  # type: ignore[arg-type]
        self.addCleanup(port.stopListening)
        number = getattr(port.getHost(), "port")  # noqa: B009 - IAddress has no port; IPv4Address has
        push = WebhookPush(self.client, f"http://127.0.0.1:{number}/app/hooks", reactor)
        app = Resource()
        root.putChild(b"app", app)
        app.putChild(b"hooks", push.resource)
        await push.start(self.target)
        self.addCleanup(push.stop)
        name = await self.watched(push)
        await self.client.queue(name).post({"body": 1})
        await self.wait_for(lambda: self.target.times("wake", name), 30, "a wake")

    async def test_unconfirmed_subscription(self) -> None:
        """
        How the server treats a subscription nobody confirmed: it shows
        C{confirmed: false}; without required confirmation it is
        delivered anyway, with it nothing is delivered (and the server
        sent a confirmation request).
        """
        push = await self.started()
        control = await self.watched(push)
        name = self.queue_name()
        subscription = await self.client.queue(name).subscribe(push.subscriber_url, ttl=300)
        self.assertIs(subscription.confirmed, False)
        await self.client.queue(name).post({"body": 1})
        await self.client.queue(control).post({"body": 1})
        await self.wait_for(lambda: self.target.times("wake", control), 30, "the control's wake")
        if self.require_confirmation:
            await self.wait_for(lambda: push.confirmations >= 2, 30, "two confirmation requests")
            await deferLater(reactor, 1.0, lambda: None)  # a delivery would have come by now
            self.assertEqual(push.ignored, 0)
        else:
            await self.wait_for(lambda: push.ignored == 1, 30, "the unconfirmed subscription's notification")
            self.assertEqual(push.confirmations, 0)
        await subscription.delete()


class WebhookConfirmationRealTests(WebhookRealTests):
    """The same against a Zaqar with C{require_confirmation = true}."""

    require_confirmation = True

    async def test_confirmation_then_notifications(self) -> None:
        """The server's confirmation request arrives; the subscription is confirmed; posts wake."""
        push = await self.started()
        name = await self.watched(push)
        [subscription] = await self.client.queue(name).subscriptions()
        self.assertIs(subscription.confirmed, True)
        await self.wait_for(lambda: push.confirmations >= 1, 30, "the confirmation request")
        await self.client.queue(name).post({"body": 1})
        await self.wait_for(lambda: self.target.times("wake", name), 30, "a wake")
        self.assertEqual(push.rejected, 0)
