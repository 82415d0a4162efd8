"""
L{txzaqar.push.WebSocketPush} against Zaqar's real WebSocket transport (a
second C{zaqar-server} on the same Redis, with the notifier pipeline:
L{txzaqar.testing.servers.shared_push_zaqar}), with a recording
L{IWakeTarget}: messages are posted over HTTP with L{txzaqar.connect}.

Without auth, with Keystone (tokens of an hour, and of 5 seconds across
more than three lifetimes), and across a crash (SIGKILL) and restart of
the WebSocket process.  Waits poll a condition against a generous
deadline; the figures (post-to-wake latency, reconnect time) are logged
at info (namespace C{txzaqar.test.push}) into trial's C{test.log}.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, cast

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConnector, IDelayedCall
from twisted.internet.task import Clock, deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import ILogObserver, Logger, globalLogPublisher
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.trial import unittest
from zope.interface import implementer

import txzaqar
from txzaqar.api.client import Client
from txzaqar.auth import Keystone, NoAuth
from txzaqar.auth.static import StaticAuthenticator
from txzaqar.interfaces import IAuthenticator, IWakeTarget
from txzaqar.push import WebSocketPush
from txzaqar.push.websocket import CLOSE_WAIT
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing.servers import push_zaqar, shared_keystone_stack, shared_push_zaqar

#: How long any wait on a real server may take before the test fails.
PATIENCE = 60.0
#: Seconds between keepalive pings (on a L{Clock}: the test advances it).
KEEPALIVE = 30.0

log = Logger(namespace="txzaqar.test.push")


@implementer(IWakeTarget)
class RecordingTarget:
    """Records what it is told, with the reactor's time."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []

    def wake(self, queue_name: str) -> None:
        self.events.append((reactor.seconds(), "wake", queue_name))

    def push_up(self, queue_name: str) -> None:
        self.events.append((reactor.seconds(), "push_up", queue_name))

    def push_down(self, queue_name: str, reason: str) -> None:
        self.events.append((reactor.seconds(), "push_down", queue_name))

    def count(self, kind: str, queue: str) -> int:
        return sum(1 for _, k, q in self.events if (k, q) == (kind, queue))

    def last(self, kind: str, queue: str) -> float:
        return max(t for t, k, q in self.events if (k, q) == (kind, queue))



def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """
    The C{(opcode, payload)} of each whole frame in what a WebSocket
    server sent on one connection (its handshake response first; a
    server's frames are not masked).
    """
    at = data.find(b"\r\n\r\n")
    if at < 0:
        return []
    at += 4
    frames = []
    while at + 2 <= len(data):
        opcode, length, start = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
        if length >= 126:
            size = 2 if length == 126 else 8
            if start + size > len(data):
                break
            length, start = int.from_bytes(data[start:start + size], "big"), start + size
        if start + length > len(data):
            break
        frames.append((opcode, bytes(data[start:start + length])))
        at = start + length
    return frames


class _RecordingProtocol(ProtocolWrapper):
    """Keeps every byte the connection receives, then passes it on."""

    def dataReceived(self, data: bytes) -> None:
        self.factory.received.extend(data)
        super().dataReceived(data)


class _RecordingFactory(WrappingFactory):
    protocol = _RecordingProtocol

    def __init__(self, wrapped: Any, received: bytearray) -> None:
        super().__init__(wrapped)
        self.received = received


class ClockedConnections:
    """
    The reactor given to a L{WebSocketPush} under test: its timers (the
    keepalive pings among them) run on a L{Clock} the test advances; its
    connections are real TCP connections of the global reactor, and what
    each receives is kept (L{received}), so the test sees Zaqar's pongs.
    """

    def __init__(self) -> None:
        self.clock = Clock()
        #: What each connection received, in the order they were made.
        self.received: list[bytearray] = []

    def seconds(self) -> float:
        return self.clock.seconds()

    def callLater(self, delay: float, f: Callable[..., Any], *args: Any, **kwargs: Any) -> IDelayedCall:
        return self.clock.callLater(delay, f, *args, **kwargs)

    def getDelayedCalls(self) -> Sequence[IDelayedCall]:
        return self.clock.getDelayedCalls()

    def connectTCP(self, host: str, port: int, factory: Any, timeout: float = 30,
                   bindAddress: Any = None) -> IConnector:
        received = bytearray()
        self.received.append(received)
        return reactor.connectTCP(host, port, _RecordingFactory(factory, received), timeout, bindAddress)

    def pongs(self) -> int:
        """How many pongs the last connection received."""
        return sum(1 for opcode, _ in server_frames(bytes(self.received[-1])) if opcode == 0xA)

    def stop(self, push: WebSocketPush) -> Deferred[None]:
        """Stop C{push}, its wait for the close handshake run out at once."""
        stopped = push.stop()
        self.clock.advance(CLOSE_WAIT)
        return stopped


class PushCase(unittest.TestCase):
    """Helpers: a push source that is stopped at cleanup, queues that are deleted."""

    timeout = 300

    def setUp(self) -> None:
        self.target = RecordingTarget()
        self.log: list[dict[str, Any]] = []
        observer = cast(ILogObserver, self.log.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)

    def start_push(self, url: Any, authenticator: Any, *queues: str, **kwargs: Any) -> WebSocketPush:
        push = WebSocketPush(url, authenticator, reactor, **kwargs)
        for queue in queues:
            push.watch(queue)
        push.start(self.target)
        self.addCleanup(push.stop)
        return push

    def queue_name(self, client: Client) -> str:
        name = f"wsq-{uuid.uuid4().hex[:12]}"
        self.addCleanup(lambda: client.queue(name).delete())
        return name

    async def post_and_wake(self, client: Client, queue: str, count: int, *, push_up_too: bool = False) -> list[float]:
        """
        Post C{count} messages one by one; each must wake C{queue} (or, with
        C{push_up_too}, be followed by a C{push_up}, on which the target
        claims too: a message posted while the connection is re-made sends
        no notification).

        @return: the post-to-wake latencies (s) of the posts that woke.
        """
        latencies = []
        for i in range(count):
            woken, came_up = self.target.count("wake", queue), self.target.count("push_up", queue)
            posted = reactor.seconds()
            await client.queue(queue).post([{"body": {"i": i}, "ttl": 300}])

            def seen(woken: int = woken, came_up: int = came_up) -> bool:
                return (self.target.count("wake", queue) > woken
                        or push_up_too and self.target.count("push_up", queue) > came_up)

            await wait_until(seen, f"the wake of post {i}")
            if self.target.count("wake", queue) > woken:
                latencies.append(self.target.last("wake", queue) - posted)
        return latencies

    def events_with(self, text: str) -> list[dict[str, Any]]:
        return [e for e in self.log if text in e.get("log_format", "") and e.get("log_namespace") == "txzaqar.push"]


class NoAuthTests(PushCase):
    """A Zaqar without auth: no C{authenticate} frame is ever sent."""

    def setUp(self) -> None:
        super().setUp()
        self.zaqar = shared_push_zaqar()
        self.project = f"txzaqar-ws-{uuid.uuid4().hex[:8]}"
        self.client = txzaqar.connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)

    async def test_post_over_http_wakes_the_watched_queue(self) -> None:
        watched, other = self.queue_name(self.client), self.queue_name(self.client)
        await self.client.create_queue(other)
        push = self.start_push(self.zaqar.websocket_url, NoAuth(self.project), watched)
        await wait_until(lambda: push.queues_up == {watched}, "push up")
        self.assertEqual(push.state, "up")

        latencies = await self.post_and_wake(self.client, watched, 50)
        p50, worst = statistics.median(latencies), max(latencies)
        log.info("no-auth post->wake latency over {n} posts: p50 {p50:.1f} ms, max {worst:.1f} ms",
                 n=len(latencies), p50=p50 * 1000, worst=worst * 1000)
        # only a notification wakes the target: each post woke it (how soon
        # is this machine's speed, logged above, not a promise)
        self.assertEqual(len(latencies), 50)

        # a queue that is not watched wakes nothing: Zaqar sends nothing for it
        received = push.notifications
        await self.client.queue(other).post([{"body": "x"}])
        await self.post_and_wake(self.client, watched, 1)
        await deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(self.target.count("wake", other), 0)
        self.assertEqual(push.notifications, received + 1)
        self.assertEqual(self.target.count("push_down", watched), 0)

    async def test_zaqar_answers_pings(self) -> None:
        """
        Each keepalive ping is answered, and with its pong in, the next
        ping finds the connection alive: push stays up, nothing
        reconnects.  The pings run on a L{Clock} the test advances, so
        only Zaqar's answer is waited for (against a generous deadline),
        never a pong within some fraction of a second.
        """
        watched = self.queue_name(self.client)
        connections = ClockedConnections()
        assert self.zaqar.websocket_url is not None
        push = WebSocketPush(self.zaqar.websocket_url, NoAuth(self.project), connections, keepalive=KEEPALIVE)
        push.watch(watched)
        push.start(self.target)
        self.addCleanup(connections.stop, push)
        await wait_until(lambda: push.queues_up == {watched}, "push up")
        self.assertEqual(connections.pongs(), 0)

        def answered_or_down(ping: int) -> bool:
            return connections.pongs() >= ping or push.state != "up"

        for ping in range(1, 4):
            connections.clock.advance(KEEPALIVE)
            await wait_until(partial(answered_or_down, ping), f"the pong to ping {ping}")
            self.assertEqual((push.state, connections.pongs()), ("up", ping))
        connections.clock.advance(KEEPALIVE)  # a fourth ping: the third was answered
        self.assertEqual((push.state, push.reconnects, push.queues_up), ("up", 0, {watched}))
        self.assertEqual(self.target.count("push_down", watched), 0)
        self.assertEqual(len(connections.received), 1)

    async def test_unwatch_deletes_the_subscription(self) -> None:
        first, second = self.queue_name(self.client), self.queue_name(self.client)
        push = self.start_push(self.zaqar.websocket_url, NoAuth(self.project), first, second)
        await wait_until(lambda: push.queues_up == {first, second}, "push up")
        subscriptions = await self.client.queue(first).subscriptions()
        self.assertEqual(len(subscriptions), 1)

        await push.unwatch(first)
        deadline = reactor.seconds() + PATIENCE
        while await self.client.queue(first).subscriptions():
            self.assertLess(reactor.seconds(), deadline, "subscription left after unwatch")
            await deferLater(reactor, 0.05, lambda: None)

        received = push.notifications
        await self.client.queue(first).post([{"body": "x"}])
        await self.post_and_wake(self.client, second, 1)
        await deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(push.notifications, received + 1)
        self.assertEqual(self.target.count("wake", first), 0)

    async def test_stop_closes_and_zaqar_deletes_the_subscriptions(self) -> None:
        """
        L{WebSocketPush.stop} is over when Zaqar answers the close frame:
        its timers run on a L{Clock} that is not advanced, so its wait of
        C{CLOSE_WAIT} for a peer that does not answer (tested on a Clock in
        the unit tests) cannot be what ends it, however slow the machine.
        """
        queue = self.queue_name(self.client)
        connections = ClockedConnections()
        assert self.zaqar.websocket_url is not None
        push = WebSocketPush(self.zaqar.websocket_url, NoAuth(self.project), connections)
        push.watch(queue)
        push.start(self.target)
        self.addCleanup(connections.stop, push)
        await wait_until(lambda: push.queues_up == {queue}, "push up")
        stopping = push.stop()
        await wait_until(lambda: stopping.called, "stop() to end with the close handshake")
        self.assertEqual(push.state, "stopped")

        async def count() -> int:
            return len(await self.client.queue(queue).subscriptions())

        deadline = reactor.seconds() + PATIENCE
        while await count():
            self.assertLess(reactor.seconds(), deadline, "subscription left after the connection closed")
            await deferLater(reactor, 0.05, lambda: None)


class RestartTests(PushCase):
    """A private push Zaqar whose WebSocket process is killed and started again on the same port."""

    async def test_kill_and_restart(self) -> None:
        zaqar = await deferToThread(push_zaqar)
        self.addCleanup(deferToThread, zaqar.stop)
        project = f"txzaqar-ws-{uuid.uuid4().hex[:8]}"
        client = txzaqar.connect(zaqar.url, project_id=project, reactor=reactor)
        self.addCleanup(client.close)
        queue = self.queue_name(client)
        push = self.start_push(zaqar.websocket_url, NoAuth(project), queue,
                               min_reconnect_delay=0.1, max_reconnect_delay=1.0)
        await wait_until(lambda: push.queues_up == {queue}, "push up")
        await self.post_and_wake(client, queue, 3)

        assert zaqar.websocket is not None
        await deferToThread(zaqar.websocket.kill)
        await wait_until(lambda: self.target.count("push_down", queue) == 1, "push down")
        killed = reactor.seconds()
        self.assertEqual((push.state, push.queues_up), ("down", frozenset()))

        # retries while it is down: still one push_down, one warning
        await wait_until(lambda: push.reconnects >= 3, "three failed reconnects")
        self.assertEqual(self.target.count("push_down", queue), 1)
        self.assertEqual(len(self.events_with("WebSocket push down")), 1)

        await deferToThread(zaqar.websocket.start)
        restarted = reactor.seconds()
        await wait_until(lambda: push.queues_up == {queue}, "push up again")
        back = self.target.last("push_up", queue)
        log.info("WebSocket restart: push up {after_start:.2f}s after the process accepted handshakes "
                 "({after_kill:.1f}s after the kill, {reconnects} reconnects)",
                 after_start=back - restarted, after_kill=back - killed, reconnects=push.reconnects)
        # the backoff is capped at 1 s here: each attempt while it was down
        # came at most that long after the last one failed (by the delays
        # the push chose, not by this machine's speed)
        delays = [e["delay"] for e in self.events_with("{delay:.1f}s")]  # "reconnecting in", "next attempt in"
        self.assertGreaterEqual(len(delays), 3)
        self.assertLessEqual(max(delays), 1.0, delays)
        self.assertEqual(len(self.events_with("up again after")), 1)

        await self.post_and_wake(client, queue, 3)
        self.assertEqual(self.target.count("push_up", queue), 2)


@implementer(IAuthenticator)
class RefusedToken(StaticAuthenticator):
    """The project of C{keystone}, with a token Keystone never issued."""

    def __init__(self, keystone: Keystone) -> None:
        self.keystone = keystone
        self.invalidated = 0

    async def _headers(self) -> dict[str, str]:
        headers = await self.keystone.headers()
        return {"X-Project-ID": headers["X-Project-ID"], "X-Auth-Token": "gAAAAA-not-a-token"}

    def headers(self) -> Deferred[dict[str, str]]:
        return Deferred.fromCoroutine(self._headers())

    def invalidate(self, used: Any = None) -> bool:
        self.invalidated += 1
        return True


class KeystoneCase(PushCase):
    """Zaqar with C{auth_strategy = keystone} and C{token_ttl}-second tokens."""

    token_ttl = 3600

    def setUp(self) -> None:
        super().setUp()
        self.stack = shared_keystone_stack(token_ttl=self.token_ttl, push=True)
        options: dict[str, Any] = dict(self.stack.credentials.user("demo").auth_kwargs(self.stack.keystone.url))
        self.client = txzaqar.connect(reactor=reactor, timeout=30, **options)
        self.addCleanup(self.client.close)
        self.keystone = Keystone.from_options(reactor=reactor, **options)
        self.addCleanup(self.keystone.close)

    def catalog_url(self) -> Any:
        """Zaqar's WebSocket URL from the catalog, looked up before each connection."""
        return partial(self.keystone.service_endpoint, "messaging-websocket")


class KeystoneTests(KeystoneCase):
    """The first frame is C{authenticate}; the URL comes from the catalog."""

    async def test_catalog_url_and_authenticate(self) -> None:
        queue = self.queue_name(self.client)
        push = self.start_push(self.catalog_url(), self.keystone, queue)
        await wait_until(lambda: push.queues_up == {queue}, "push up")
        latencies = await self.post_and_wake(self.client, queue, 20)
        log.info("keystone post->wake latency over {n} posts: p50 {p50:.1f} ms",
                 n=len(latencies), p50=statistics.median(latencies) * 1000)
        self.assertEqual(self.target.count("push_down", queue), 0)

    async def test_a_refused_token_backs_off(self) -> None:
        queue = self.queue_name(self.client)
        refused = RefusedToken(self.keystone)
        push = self.start_push(self.stack.websocket_url, refused, queue,
                               min_reconnect_delay=0.2, max_reconnect_delay=0.4)
        await wait_until(lambda: push.reconnects >= 2, "two attempts")
        self.assertGreaterEqual(refused.invalidated, 2)
        [warning] = self.events_with("WebSocket push down")
        self.assertIn("authentication refused: 401", warning["reason"])
        self.assertEqual(self.target.events, [])


class ShortTokenTests(KeystoneCase):
    """
    5-second tokens (fernet: they live 4 to 5 s): notifications keep
    arriving across their expiry, and a connection outlives its tokens by
    authenticating again.  Posts go on until that was seen (and at least
    four lifetimes went by), against a deadline: with so short a token, how
    many renewals make it before the 4003 depends on how fast Keystone and
    Zaqar answer here, so the count of 4003 closes is logged, not judged
    (when the renewal is due is tested on a L{Clock} in the unit tests).
    """

    token_ttl = 5

    def longest_connection(self, queue: str) -> float:
        """The longest time C{queue}'s push stayed up on one connection (so far, for the current one)."""
        longest, up_since = 0.0, None
        for at, kind, name in [*self.target.events, (reactor.seconds(), "now", queue)]:
            if name != queue:
                continue
            if kind == "push_up":
                up_since = at
            elif kind in ("push_down", "now") and up_since is not None:
                longest, up_since = max(longest, at - up_since), None
        return longest

    async def test_notifications_across_token_lifetimes(self) -> None:
        queue = self.queue_name(self.client)
        push = self.start_push(self.catalog_url(), self.keystone, queue)
        await wait_until(lambda: push.queues_up == {queue}, "push up")
        started = reactor.seconds()
        deadline = started + 4 * self.token_ttl + 2 * PATIENCE
        posts = woke = 0

        def renewed() -> int:
            return len(self.events_with("authenticated again with a new token"))

        def seen_enough() -> bool:
            # a connection up for longer than a token can live was kept by
            # its renewals: Zaqar reset its expiry timer on each
            return (reactor.seconds() - started >= 4 * self.token_ttl and renewed() >= 3
                    and self.longest_connection(queue) > self.token_ttl + 1)

        while not seen_enough():
            self.assertLess(reactor.seconds(), deadline,
                            f"{renewed()} renewals, longest connection {self.longest_connection(queue):.1f}s")
            woke += len(await self.post_and_wake(self.client, queue, 1, push_up_too=True))
            posts += 1
            await deferLater(reactor, 0.2, lambda: None)
        expired = len([e for e in self.events_with("push down") if e["reason"] == "authentication expired (4003)"])
        learned = self.events_with("tokens last about")
        log.info("5 s tokens over {seconds:.0f}s: {posts} posts, {woke} woke (the others: push_up), "
                 "{expired} closes 4003, {renewed} re-authentications on the same connection, "
                 "longest connection {longest:.1f}s, lifetime learned {learned}",
                 seconds=reactor.seconds() - started, posts=posts, woke=woke, expired=expired, renewed=renewed(),
                 longest=self.longest_connection(queue), learned=[round(e["seconds"], 2) for e in learned])
        self.assertGreaterEqual(posts, 10)
        # each post woke the queue, but one made while the connection was
        # re-made after a 4003 (no notification is sent then): push_up
        self.assertGreaterEqual(woke, posts - expired)
