"""
Tests of L{txzaqar.push.WebhookPush}: its resource (what it answers and
whom it wakes), its listening port, and the lifecycle of its
subscriptions against the in-memory Zaqar on a L{Clock}: created and
confirmed, renewed at half the ttl, deleted, and on failures reported
down once and retried with backoff.
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

from twisted.application.internet import backoffPolicy
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import CannotListenError, ConnectionRefusedError
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer
from twisted.web.test.requesthelper import DummyChannel, DummyRequest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from txzaqar.errors import ClientValidationError
from txzaqar.interfaces import IWakeSource
from txzaqar.push import WebhookPush
from txzaqar.push.webhook import MAX_BODY, BoundedRequest
from txzaqar.test.helpers.recording import RecordingTarget
from txzaqar.testing import memory_client

SECRET = "s3cret-path_for.tests~1"
URL = "http://hooks.example:8080/zaqar"


@implementer(IAgent)
class SwitchAgent:
    """An agent that passes requests on, or refuses the connection while C{down}."""

    def __init__(self, agent: IAgent) -> None:
        self.agent = agent
        self.down = False

    def request(self, method: bytes, uri: bytes, headers: Headers | None = None,
                bodyProducer: IBodyProducer | None = None) -> Deferred[Any]:
        if self.down:
            return fail(ConnectionRefusedError("test says down"))
        return self.agent.request(method, uri, headers, bodyProducer)


def notification(queue: str = "q", **extra: Any) -> bytes:
    document = {"ttl": 300, "body": {"i": 1}, "Message_Type": "Notification", "queue_name": queue}
    document.update(extra)
    return json.dumps(document).encode()


def confirmation_request(queue: str = "q") -> bytes:
    """A confirmation request as Zaqar 23.0.1's notifier sends it (notifier.py)."""
    return json.dumps({
        "Message_Type": "SubscriptionConfirmation",
        "Message": f"You have chosen to subscribe to the queue: {queue}",
        "URL-Signature": "c" * 64, "URL-Methods": "PUT",
        "URL-Paths": f"/v2/queues/{queue}/subscriptions/abc/confirm",
        "X-Project-ID": "test", "URL-Expires": "2026-12-01 12:00:00",
        "SubscribeBody": {"confirmed": True}, "UnsubscribeBody": {"confirmed": False},
        "queue_name": queue,
    }).encode()


class ConstructionTests(SynchronousTestCase):
    """Bad arguments are refused with a L{ClientValidationError}."""

    def setUp(self) -> None:
        self.client, self.fake = memory_client()

    def refused(self, field: str, **kwargs: Any) -> None:
        kwargs.setdefault("url", URL)
        url = kwargs.pop("url")
        e = self.assertRaises(ClientValidationError, WebhookPush, self.client, url, Clock(), **kwargs)
        self.assertEqual(e.field, field)

    def test_url(self) -> None:
        for url in ("ftp://h/x", "hooks.example/x", "http:///nohost", "http://h/x?q=1", "http://h/#f", 42,
                    "http://127.0.0.1:0/x", "http://h:99999/x", "http://h:port/x"):
            self.refused("url", url=url)

    def test_ttl(self) -> None:
        for ttl in (59, 0, -1, 60.5, "3600", True):
            self.refused("subscription_ttl", subscription_ttl=ttl)

    def test_path(self) -> None:
        for path in ("a/b", "/", "", "a b", "..", "é", 7):
            self.refused("path", path=path)

    def test_listen(self) -> None:
        for listen in ("nonsense:1", 8080):
            self.refused("listen", listen=listen)

    def test_good(self) -> None:
        push = WebhookPush(self.client, "https://h/x/", Clock(), subscription_ttl=60, path="ok._~-1")
        self.assertTrue(verifyObject(IWakeSource, push))
        self.assertEqual(push.kind, "webhook")
        self.assertEqual(push.subscriber_url, "https://h/x/ok._~-1")
        self.assertEqual(push.state, "new")

    def test_signatures_agree_with_the_interface(self) -> None:
        """As test_interfaces checks its pairs: parameter names, order and defaults."""
        from txzaqar.test.helpers.interfaces import implementation_parameters, interface_parameters
        from txzaqar.testing import MemoryPush

        for cls in (WebhookPush, MemoryPush):
            self.assertTrue(IWakeSource.implementedBy(cls))
            for name, description in IWakeSource.namesAndDescriptions(all=True):
                if name != "kind":
                    self.assertEqual(interface_parameters(description),
                                     implementation_parameters(getattr(cls, name)), (cls, name))

    def test_generated_path(self) -> None:
        """Without C{path}, each source has its own unguessable path, not in its repr."""
        a = WebhookPush(self.client, URL, Clock())
        b = WebhookPush(self.client, URL, Clock())
        secret_a = a.subscriber_url.rsplit("/", 1)[1]
        self.assertGreaterEqual(len(secret_a), 32)
        self.assertNotEqual(secret_a, b.subscriber_url.rsplit("/", 1)[1])
        self.assertTrue(a.subscriber_url.startswith(URL + "/"))
        self.assertNotIn(secret_a, repr(a))


class ResourceTests(SynchronousTestCase):
    """What L{WebhookPush.resource} answers, and whom it wakes."""

    def setUp(self) -> None:
        self.client, self.fake = memory_client()
        self.push = WebhookPush(self.client, URL, self.fake.clock, path=SECRET)
        self.target = RecordingTarget()
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        self.fake.clock.advance(0)
        self.assertEqual(self.target.calls, [("push_up", "q")])
        del self.target.calls[:]

    def post(self, body: bytes, path: list[bytes] | None = None, method: bytes = b"POST",
             length: str | None = None) -> int:
        request = DummyRequest(path if path is not None else [SECRET.encode()])
        request.method = method
        request.content = BytesIO(body)  # type: ignore[attr-defined]
        if length is not None:
            request.requestHeaders.setRawHeaders(b"content-length", [length.encode()])
        self.assertEqual(self.push.resource.render(request), b"")
        code = int(request.responseCode or 0)
        return code

    def test_notification_wakes(self) -> None:
        self.assertEqual(self.post(notification("q")), 204)
        self.assertEqual(self.post(notification("q")), 204)
        self.assertEqual(self.target.calls, [("wake", "q"), ("wake", "q")])
        self.assertEqual((self.push.notifications, self.push.rejected, self.push.ignored), (2, 0, 0))

    def test_wrong_path(self) -> None:
        for path in ([b"other"], [], [SECRET.encode(), b""], [b"x", SECRET.encode()], [SECRET[:-1].encode()]):
            self.assertEqual(self.post(notification("q"), path=path), 404)
        self.assertEqual(self.target.calls, [])
        self.assertEqual((self.push.notifications, self.push.rejected), (0, 5))

    def test_wrong_method(self) -> None:
        request = DummyRequest([SECRET.encode()])
        request.method = b"GET"
        self.push.resource.render(request)
        self.assertEqual(request.responseCode, 405)
        self.assertEqual(request.responseHeaders.getRawHeaders(b"allow"), [b"POST"])
        self.assertEqual(self.target.calls, [])

    def test_bad_bodies(self) -> None:
        bad = [
            b"", b"not json", b"[1, 2]", b'"Notification"', b"{}",
            json.dumps({"Message_Type": "Notification"}).encode(),
            notification(""), notification("no spaces"), notification("x" * 65),
            json.dumps({"Message_Type": "Notification", "queue_name": 5}).encode(),
            json.dumps({"Message_Type": "Other", "queue_name": "q"}).encode(),
            json.dumps({"queue_name": "q"}).encode(),
            b'{"queue_name": "q", "Message_Type": "Notification"',
            b"\xff\xfe{}", b"[" * 60000,
        ]
        for body in bad:
            self.assertEqual(self.post(body), 400, body)
        self.assertEqual(self.target.calls, [])
        self.assertEqual((self.push.notifications, self.push.rejected), (0, len(bad)))

    def test_too_large(self) -> None:
        big = notification("q", body="x" * MAX_BODY)
        self.assertEqual(self.post(big), 413)
        self.assertEqual(self.post(notification("q"), length=str(MAX_BODY + 1)), 413)
        self.assertEqual(self.target.calls, [])
        # just within the bound is fine
        fits = notification("q", body="")
        fits = notification("q", body="x" * (MAX_BODY - len(fits)))
        self.assertEqual(len(fits), MAX_BODY)
        self.assertEqual(self.post(fits), 204)
        self.assertEqual(self.target.calls, [("wake", "q")])

    def test_not_watched(self) -> None:
        """A notification for a queue not watched is answered 204 and wakes nothing."""
        self.assertEqual(self.post(notification("other")), 204)
        self.successResultOf(self.push.unwatch("q"))
        self.assertEqual(self.post(notification("q")), 204)
        self.assertEqual(self.target.calls, [])
        self.assertEqual((self.push.notifications, self.push.ignored, self.push.rejected), (0, 2, 0))

    def test_confirmation_request(self) -> None:
        """A confirmation request is answered 204, counted, and wakes nothing."""
        self.assertEqual(self.post(confirmation_request("q")), 204)
        self.assertEqual(self.target.calls, [])
        self.assertEqual((self.push.confirmations, self.push.notifications), (1, 0))

    def test_target_raises(self) -> None:
        """A target that raises does not turn the answer into an error."""
        def wake(queue_name: str) -> None:
            raise RuntimeError("boom")
        self.target.wake = wake  # type: ignore[method-assign]
        self.assertEqual(self.post(notification("q")), 204)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_nothing_secret_logged(self) -> None:
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        self.post(notification("q", body="top secret body"))
        self.post(b"top secret not json")
        self.post(notification("q"), path=[b"guess"])
        text = " ".join(formatEvent(e) + repr(e) for e in events)
        self.assertNotIn(SECRET, text)
        self.assertNotIn("top secret", text)


@implementer(IStreamServerEndpoint)
class FixedPortEndpoint:
    """An endpoint whose C{listen} gives a port with a chosen number (or fails)."""

    def __init__(self, reactor: MemoryReactorClock, port: int, error: Exception | None = None) -> None:
        self.reactor = reactor
        self.port = port
        self.error = error

    def listen(self, factory: Any) -> Deferred[IListeningPort]:
        if self.error is not None:
            return fail(self.error)
        return succeed(self.reactor.listenTCP(self.port, factory, interface="127.0.0.1"))


class ListeningTests(SynchronousTestCase):
    """With C{listen}, the source runs its own site, bounded, at the URL's path."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.client, self.fake = memory_client(clock=self.reactor)
        self.target = RecordingTarget()

    def start(self, url: str = URL, listen: Any = "tcp:8080:interface=127.0.0.1") -> WebhookPush:
        push = WebhookPush(self.client, url, self.reactor, listen=listen, path=SECRET)
        self.successResultOf(push.start(self.target))
        return push

    def connect(self) -> Any:
        factory: Any = self.reactor.tcpServers[-1][1]
        if not factory.numPorts:
            factory.doStart()  # as a real port does (the memory reactor does not)
            self.addCleanup(factory.doStop)
        return factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))

    def http(self, push: WebhookPush, data: bytes) -> bytes:
        protocol = self.connect()
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(data)
        return transport.value()

    def test_listens(self) -> None:
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        push = self.start()
        port, factory, backlog, interface = self.reactor.tcpServers[0]
        self.assertEqual((port, interface), (8080, "127.0.0.1"))
        self.assertEqual(push.state, "started")
        push.watch("q")
        body = notification("q")
        answer = self.http(push, b"POST /zaqar/" + SECRET.encode() + b" HTTP/1.1\r\nHost: h\r\n"
                           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.assertTrue(answer.startswith(b"HTTP/1.1 204"), answer[:80])
        self.assertEqual(self.target.of("wake"), [("wake", "q")])
        for path in (b"/" + SECRET.encode(), b"/zaqar", b"/zaqar/other", b"/other/" + SECRET.encode()):
            answer = self.http(push, b"POST " + path + b" HTTP/1.1\r\nHost: h\r\n"
                               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            self.assertTrue(answer.startswith(b"HTTP/1.1 404"), (path, answer[:80]))
        self.assertEqual(self.target.of("wake"), [("wake", "q")])
        # no access log line: it would show the secret path
        text = " ".join(formatEvent(e) + repr(e) for e in events)
        self.assertIn("listening", text)
        self.assertNotIn(SECRET, text)
        self.assertNotIn("POST /", text)

    def test_root_url(self) -> None:
        push = self.start(url="http://hooks.example:8080")
        push.watch("q")
        body = notification("q")
        answer = self.http(push, b"POST /" + SECRET.encode() + b" HTTP/1.1\r\nHost: h\r\n"
                           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.assertTrue(answer.startswith(b"HTTP/1.1 204"), answer[:80])

    def test_chunked_too_large(self) -> None:
        """A chunked body over the bound is dropped as it comes, and answered 413."""
        push = self.start()
        push.watch("q")
        chunk = b"x" * 16384
        data = (b"POST /zaqar/" + SECRET.encode() + b" HTTP/1.1\r\nHost: h\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        data += (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 64 + b"0\r\n\r\n"
        answer = self.http(push, data)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:80])
        self.assertEqual(self.target.calls[-1:], [("push_up", "q")])

    def test_bounded_request(self) -> None:
        """The site's requests keep at most MAX_BODY + 1 bytes of a body, in memory."""
        request = BoundedRequest(DummyChannel())
        request.gotLength(10**7)
        for _ in range(100):
            request.handleContentChunk(b"x" * 10000)
        assert request.content is not None
        self.assertIsInstance(request.content, BytesIO)
        self.assertEqual(len(request.content.getvalue()), MAX_BODY + 1)

    def test_port_zero_in_url(self) -> None:
        """A port of 0 in the URL stands for the port listened on."""
        push = WebhookPush(self.client, "http://127.0.0.1:0/h", self.reactor,
                           listen=FixedPortEndpoint(self.reactor, 43210), path=SECRET)
        self.successResultOf(push.start(self.target))
        self.assertEqual(push.subscriber_url, f"http://127.0.0.1:43210/h/{SECRET}")
        push.watch("q")
        [subscription] = self.successResultOf(self.client.queue("q").subscriptions())
        self.assertEqual(subscription.subscriber, f"http://127.0.0.1:43210/h/{SECRET}")

    def test_cannot_listen(self) -> None:
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        push = WebhookPush(self.client, URL, self.reactor, path=SECRET,
                           listen=FixedPortEndpoint(self.reactor, 80, CannotListenError("", 80, "denied")))
        push.watch("q")
        self.failureResultOf(push.start(self.target), CannotListenError)
        self.assertEqual(self.target.calls, [])
        self.assertEqual(self.successResultOf(self.client.queue("q").subscriptions()), [])
        self.assertIn("cannot listen", " ".join(formatEvent(e) for e in events))

    def test_stop(self) -> None:
        """Stop deletes the subscriptions, stops listening and closes open connections."""
        push = self.start()
        push.watch("q")
        protocol = self.connect()
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.successResultOf(push.stop())
        self.assertEqual(push.state, "stopped")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.successResultOf(self.client.queue("q").subscriptions()), [])
        self.assertEqual(self.target.calls, [("push_up", "q")])
        self.successResultOf(push.stop())


class LifecycleTests(SynchronousTestCase):
    """The subscription of each watched queue, against the in-memory Zaqar on a Clock."""

    TTL = 120

    def setUp(self) -> None:
        self.client, self.fake = memory_client()
        self.clock = self.fake.clock
        self.client.connection.retries = 0  # type: ignore[attr-defined]
        self.agent = SwitchAgent(self.client.connection.agent)
        self.client.connection.agent = self.agent
        self.push = WebhookPush(self.client, URL, self.clock, subscription_ttl=self.TTL, path=SECRET)
        self.push.backoff = backoffPolicy(initialDelay=1.0, factor=2.0, maxDelay=8.0, jitter=lambda: 0.0)
        self.target = RecordingTarget()

    def subscriptions(self, queue: str = "q") -> list[Any]:
        self.agent.down, down = False, self.agent.down
        try:
            return self.successResultOf(self.client.queue(queue).subscriptions())
        finally:
            self.agent.down = down

    def requests(self, method: str) -> list[str]:
        return [path for m, path in self.fake.requests if m == method]

    def test_created_and_confirmed(self) -> None:
        self.push.watch("q")
        self.assertEqual(self.fake.requests, [])  # nothing before start
        self.successResultOf(self.push.start(self.target))
        self.assertEqual(self.target.calls, [("push_up", "q")])
        [subscription] = self.subscriptions()
        self.assertEqual(subscription.subscriber, f"{URL}/{SECRET}")
        self.assertEqual(subscription.ttl, self.TTL)
        self.assertIs(subscription.confirmed, True)
        self.assertEqual(self.requests("PUT"), [f"/v2/queues/q/subscriptions/{subscription.id}/confirm"])
        self.assertEqual(self.push.queues_up, frozenset({"q"}))
        self.push.watch("q")  # again: nothing new
        self.assertEqual(len(self.subscriptions()), 1)
        self.assertEqual(self.target.calls, [("push_up", "q")])

    def test_watch_after_start(self) -> None:
        self.successResultOf(self.push.start(self.target))
        self.push.watch("a")
        self.push.watch("b")
        self.assertEqual(self.target.calls, [("push_up", "a"), ("push_up", "b")])
        self.assertEqual(self.push.queues_up, frozenset({"a", "b"}))

    def test_renewed_at_half_ttl(self) -> None:
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        [subscription] = self.subscriptions()
        path = f"/v2/queues/q/subscriptions/{subscription.id}"
        self.clock.advance(self.TTL / 2 - 0.001)
        self.assertEqual(self.requests("PATCH"), [])
        self.clock.advance(0.001)
        self.assertEqual(self.requests("PATCH"), [path])
        for _ in range(5):  # long past the first ttl, still the same subscription
            self.clock.advance(self.TTL / 2)
        self.assertEqual(self.requests("PATCH"), [path] * 6)
        [again] = self.subscriptions()
        self.assertEqual(again.id, subscription.id)
        self.assertEqual(self.requests("PUT"), [path + "/confirm"])
        self.assertEqual(self.target.calls, [("push_up", "q")])

    def test_unwatch_deletes(self) -> None:
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        self.push.watch("r")
        self.successResultOf(self.push.unwatch("q"))
        self.assertEqual(self.subscriptions("q"), [])
        self.assertEqual(len(self.subscriptions("r")), 1)
        self.assertEqual(self.push.queues_up, frozenset({"r"}))
        before = len(self.fake.requests)
        self.clock.advance(self.TTL * 3)  # no renewal of q
        self.assertNotIn("/v2/queues/q", " ".join(p for _, p in self.fake.requests[before:]))
        self.successResultOf(self.push.unwatch("never"))

    def test_stop_deletes_all(self) -> None:
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        self.push.watch("r")
        self.successResultOf(self.push.stop())
        self.assertEqual((self.subscriptions("q"), self.subscriptions("r")), ([], []))
        self.assertEqual(self.push.queues_up, frozenset())
        before = len(self.fake.requests)
        self.clock.advance(self.TTL * 3)
        self.assertEqual(self.fake.requests[before:], [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_delete_fails_quietly(self) -> None:
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        self.agent.down = True
        self.successResultOf(self.push.unwatch("q"))
        self.successResultOf(self.push.stop())
        self.assertEqual(len(self.subscriptions()), 1)

    def test_down_once_then_backoff(self) -> None:
        """Failing to subscribe reports push_down once, and retries after 1, 2, 4, 8, 8 s."""
        self.agent.down = True
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        [(kind, queue, reason)] = self.target.calls
        self.assertEqual((kind, queue), ("push_down", "q"))
        self.assertIn("test says down", reason)
        self.assertNotIn(SECRET, reason)
        attempts = []
        for delay in (1, 2, 4, 8, 8):
            self.clock.advance(delay - 0.01)
            attempts.append(len(self.clock.getDelayedCalls()))
            self.clock.advance(0.01)
        self.assertEqual(attempts, [1] * 5)
        self.assertEqual(len(self.target.calls), 1)
        self.assertEqual(self.subscriptions(), [])
        self.agent.down = False
        self.clock.advance(8)
        self.assertEqual(self.target.calls[1:], [("push_up", "q")])
        self.assertEqual(len(self.subscriptions()), 1)
        # the backoff starts over after a success
        self.agent.down = True
        self.clock.advance(self.TTL / 2)
        self.assertEqual(self.target.calls[2][:2], ("push_down", "q"))
        self.agent.down = False
        self.clock.advance(1)
        self.assertEqual([c[0] for c in self.target.calls], ["push_down", "push_up", "push_down", "push_up"])

    def test_refused_subscription(self) -> None:
        """A 4xx (here: the queue's name is fine but the subscriber is refused) is a failure too."""
        push = WebhookPush(self.client, "http://h/x", self.clock, path=SECRET)
        push.backoff = self.push.backoff
        original = self.client.queue

        class RefusingQueue:
            def __init__(self, queue: Any) -> None:
                self.queue = queue

            def subscribe(self, subscriber: str, ttl: int | None = None) -> Deferred[Any]:
                from txzaqar.errors import BadRequest
                return fail(BadRequest("Invalid API request", f"bad subscriber {subscriber}"))

        self.client.queue = lambda name: RefusingQueue(original(name))  # type: ignore[method-assign, assignment, misc]
        self.successResultOf(push.start(self.target))
        push.watch("q")
        [(kind, _, reason)] = self.target.calls
        self.assertEqual(kind, "push_down")
        self.assertIn("bad subscriber", reason)
        self.assertNotIn(SECRET, reason)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.successResultOf(push.stop())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_expired_subscription_recreated(self) -> None:
        """A subscription deleted by someone else is made again at the next renewal."""
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        [first] = self.subscriptions()
        self.successResultOf(first.delete())
        self.clock.advance(self.TTL / 2)
        [second] = self.subscriptions()
        self.assertNotEqual(second.id, first.id)
        self.assertIs(second.confirmed, True)
        self.assertEqual(self.target.calls, [("push_up", "q")])

    def test_existing_confirmed_subscription_reused(self) -> None:
        """A confirmed subscription of the same subscriber URL (409 on create) is taken over."""
        queue = self.client.queue("q")
        existing = self.successResultOf(queue.subscribe(f"{URL}/{SECRET}", ttl=60))
        self.successResultOf(existing.confirm())
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        self.assertEqual(self.target.calls, [("push_up", "q")])
        [subscription] = self.subscriptions()
        self.assertEqual((subscription.id, subscription.ttl), (existing.id, self.TTL))

    def test_unwatch_during_failure(self) -> None:
        self.agent.down = True
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        self.successResultOf(self.push.unwatch("q"))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.target.calls), 1)

    def test_unwatch_while_in_flight(self) -> None:
        """Unwatching while the subscription is being made waits for it, then deletes it."""
        held: list[Deferred[None]] = []
        real = self.agent.request

        def request(*args: Any, **kwargs: Any) -> Deferred[Any]:
            gate: Deferred[None] = Deferred()
            held.append(gate)
            return gate.addCallback(lambda _: real(*args, **kwargs))

        self.agent.request = request  # type: ignore[method-assign]
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        d = self.push.unwatch("q")
        self.assertNoResult(d)
        while held:
            held.pop(0).callback(None)
        self.successResultOf(d)
        self.agent.request = real  # type: ignore[method-assign]
        self.assertEqual(self.subscriptions(), [])
        self.assertEqual(self.target.calls, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_watch_again_while_deleting(self) -> None:
        """
        Watching a queue again while its old subscription is being deleted
        waits for the delete, then makes a new subscription (else the
        create would find the old one, which the delete then removes).
        """
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        [old] = self.subscriptions()
        held: list[Deferred[None]] = []
        real = self.agent.request

        def request(*args: Any, **kwargs: Any) -> Deferred[Any]:
            gate: Deferred[None] = Deferred()
            held.append(gate)
            return gate.addCallback(lambda _: real(*args, **kwargs))

        self.agent.request = request  # type: ignore[method-assign]
        first = self.push.unwatch("q")
        self.push.watch("q")
        # and again, while the first delete is in flight: that watch made nothing to delete
        self.successResultOf(self.push.unwatch("q"))
        self.push.watch("q")
        self.assertEqual(len(held), 1)  # only the delete was sent
        self.assertNoResult(first)
        while held:
            held.pop(0).callback(None)
        self.successResultOf(first)
        self.agent.request = real  # type: ignore[method-assign]
        [new] = self.subscriptions()
        self.assertNotEqual(new.id, old.id)
        self.assertIs(new.confirmed, True)
        self.assertEqual(self.push.queues_up, frozenset({"q"}))
        self.assertEqual(self.target.calls, [("push_up", "q"), ("push_up", "q")])

    def test_secret_not_logged(self) -> None:
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        self.agent.down = True
        self.successResultOf(self.push.start(self.target))
        self.push.watch("q")
        self.agent.down = False
        self.clock.advance(1)
        self.clock.advance(self.TTL)
        self.successResultOf(self.push.stop())
        text = " ".join(formatEvent(e) + repr(e) for e in events)
        self.assertIn("webhook push down for q", text)
        self.assertIn("webhook push up for q", text)
        self.assertNotIn(SECRET, text)
