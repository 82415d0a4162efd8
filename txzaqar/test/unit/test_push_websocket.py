"""
L{txzaqar.push.WebSocketPush} against an in-memory Zaqar WebSocket end:
the real autobahn client protocol on a L{StringTransport}, connected
through a L{MemoryReactorClock}; the test plays the server's frames.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.ssl import optionsForClientTLS
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import alsoProvides, implementer
from zope.interface.verify import verifyObject

from txzaqar.errors import AuthenticationFailed, ClientValidationError
from txzaqar.interfaces import ITokenExpiry, IWakeSource, IWakeTarget
from txzaqar.push import WebSocketPush
from txzaqar.push import websocket as websocket_module
from txzaqar.test.helpers.websocket import CLIENT_ID, URL, FakeAuth, ServerEnd


@implementer(IWakeTarget)
class RecordingTarget:
    """Records what it is told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.broken = False

    def wake(self, queue_name: str) -> None:
        if self.broken:
            raise RuntimeError("target bug")
        self.events.append(("wake", queue_name))

    def push_up(self, queue_name: str) -> None:
        self.events.append(("push_up", queue_name))

    def push_down(self, queue_name: str, reason: str) -> None:
        self.events.append(("push_down", queue_name, reason))


class PushTestsMixin:
    """A L{WebSocketPush} on a L{MemoryReactorClock}, with helpers to play the server."""

    keystone = False

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.auth = FakeAuth(keystone=self.keystone)
        self.target = RecordingTarget()
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]

    def push(self, **kwargs: Any) -> WebSocketPush:
        kwargs.setdefault("client_id", CLIENT_ID)
        kwargs.setdefault("jitter", lambda: 0.0)
        kwargs.setdefault("keepalive", 0)  # KeepaliveTests turn it on
        url = kwargs.pop("url", URL)
        return WebSocketPush(url, self.auth, self.reactor, **kwargs)

    def connect(self, push: WebSocketPush) -> ServerEnd:
        """Answer the newest connection attempt and its handshake (and authenticate, with Keystone)."""
        server = ServerEnd(self.reactor)
        server.handshake()
        if self.keystone:
            [auth] = server.frames()
            assert auth["action"] == "authenticate", auth
            server.reply(auth, 200, {"message": "Authentified."})
        return server

    def accept(self, server: ServerEnd, start: int = 0) -> list[dict[str, Any]]:
        """Answer every subscription_create sent with a 201; return the frames."""
        frames = server.frames()
        for i, frame in enumerate(frames):
            if isinstance(frame, dict) and frame["action"] == "subscription_create":
                server.reply(frame, 201, {"subscription_id": f"sub-{start + i}-{frame['body']['queue_name']}",
                                          "message": "created"})
        return frames

    def up(self, *queues: str, **kwargs: Any) -> tuple[WebSocketPush, ServerEnd]:
        push = self.push(**kwargs)
        for queue in queues:
            push.watch(queue)
        push.start(self.target)
        server = self.connect(push)
        self.accept(server)
        return push, server

    def events(self, level: LogLevel) -> list[dict[str, Any]]:
        return [e for e in self.log if e["log_level"] == level and e.get("log_namespace") == "txzaqar.push"]

    def reconnect_delay(self) -> float:
        """Seconds until the scheduled reconnect."""
        [call] = [c for c in self.reactor.getDelayedCalls()
                  if getattr(getattr(c, "func", None), "__name__", "") == "_connect"]
        return call.getTime() - self.reactor.seconds()


class ConstructionTests(PushTestsMixin, SynchronousTestCase):
    def test_provides_IWakeSource(self) -> None:
        push = self.push()
        self.assertTrue(verifyObject(IWakeSource, push))
        self.assertEqual((push.kind, push.state, push.reconnects, push.notifications, push.queues_up),
                         ("websocket", "stopped", 0, 0, frozenset()))

    def test_bad_input(self) -> None:
        bad: list[tuple[str, dict[str, Any]]] = [
            ("url", {"url": "http://127.0.0.1:8902"}),
            ("url", {"url": "ws://"}),
            ("url", {"url": 8902}),
            ("url", {"url": "ws://host:99999"}),
            ("subscription_ttl", {"subscription_ttl": 59}),
            ("subscription_ttl", {"subscription_ttl": 3600.5}),
            ("min_reconnect_delay", {"min_reconnect_delay": -1}),
            ("max_reconnect_delay", {"max_reconnect_delay": -0.1}),
            ("max_reconnect_delay", {"min_reconnect_delay": 5, "max_reconnect_delay": 1}),
            ("min_reconnect_delay", {"min_reconnect_delay": float("nan")}),
            ("client_id", {"client_id": "not-a-uuid"}),
        ]
        for field, kwargs in bad:
            with self.assertRaises(ClientValidationError, msg=repr(kwargs)) as raised:
                self.push(**kwargs)
            self.assertEqual(raised.exception.field, field, kwargs)

    def test_good_edges(self) -> None:
        self.push(url="wss://zaqar.example:443/", subscription_ttl=60, min_reconnect_delay=0, max_reconnect_delay=0)
        self.push(url=lambda: succeed("not checked until used"))

    def test_bad_queue_name(self) -> None:
        push = self.push()
        self.assertRaises(ClientValidationError, push.watch, "no spaces")
        push.watch("ok")
        push.watch("ok")


class NoAuthTests(PushTestsMixin, SynchronousTestCase):
    def test_start_fires_while_connecting(self) -> None:
        push = self.push()
        self.assertIsNone(self.successResultOf(push.start(self.target)))
        self.assertEqual(push.state, "connecting")
        [(host, port, _, _, _)] = self.reactor.tcpClients
        self.assertEqual((host, port), ("127.0.0.1", 8902))

    def test_subscribes_each_watched_queue_without_authenticate(self) -> None:
        push = self.push(subscription_ttl=600)
        push.watch("a")
        push.start(self.target)
        push.watch("b")
        server = ServerEnd(self.reactor)
        server.handshake()
        frames = server.frames()
        headers = {"Client-ID": CLIENT_ID, "X-Project-ID": "p1"}
        self.assertEqual(frames, [
            {"action": "subscription_create", "headers": headers, "body": {"queue_name": q, "ttl": 600}}
            for q in ("a", "b")
        ])
        self.assertEqual(self.target.events, [])
        server.reply(frames[1], 201, {"subscription_id": "s-b", "message": "created"})
        self.assertEqual(self.target.events, [("push_up", "b")])
        self.assertEqual((push.state, push.queues_up), ("up", frozenset({"b"})))
        server.reply(frames[0], 201, {"subscription_id": "s-a", "message": "created"})
        self.assertEqual(push.queues_up, frozenset({"a", "b"}))
        push.watch("c")
        [frame] = server.frames()
        self.assertEqual(frame["body"], {"queue_name": "c", "ttl": 600})
        self.assertEqual([e["log_format"] for e in self.events(LogLevel.info)], ["WebSocket push up"])

    def test_notification_wakes_watched_queues_only(self) -> None:
        push, server = self.up("a")
        server.notify("a")
        server.notify("other")
        server.notify("a")
        self.assertEqual(self.target.events, [("push_up", "a"), ("wake", "a"), ("wake", "a")])
        self.assertEqual(push.notifications, 3)

    def test_unknown_and_malformed_frames_are_ignored(self) -> None:
        push, server = self.up("a")
        for frame in [b"not json", b"[1, 2]", b'{"x": 1}', b'{"Message_Type": "Notification"}',
                      b'{"Message_Type": "Notification", "queue_name": 5}',
                      b'{"request": {"action": "nope"}, "headers": {"status": "x"}}',
                      b'{"request": {"action": null}, "body": {"error": "bad"}, "headers": {"status": 400}}',
                      b'{"request": {"action": "subscription_create", "body": {"queue_name": "zz"}},'
                      b' "headers": {"status": 201}, "body": {}}',
                      b'{"request": {"action": "authenticate"}, "headers": {"status": 200}, "body": {}}',
                      b'"just a string"']:
            server.send_bytes(frame)
        server.send_bytes(b"\x92\x01", opcode=2)  # binary: we never ask for msgpack
        self.assertEqual(self.target.events, [("push_up", "a")])
        self.assertEqual((push.state, push.notifications), ("up", 0))
        ignored = [e for e in self.events(LogLevel.debug) if "ignored" in e["log_format"]]
        self.assertEqual(len(ignored), 11)
        self.assertEqual(self.events(LogLevel.warn), [])
        server.notify("a")
        self.assertEqual(self.target.events[-1], ("wake", "a"))

    def test_notification_body_is_never_logged(self) -> None:
        _, server = self.up("a")
        server.send_bytes(b'{"ttl": 1, "body": "secret", "Message_Type": "Other"}')
        server.notify("a")
        self.assertNotIn("secret", repr(list(self.log)))

    def test_unwatch_deletes_the_subscription(self) -> None:
        push, server = self.up("a", "b")
        self.assertEqual(self.successResultOf(push.unwatch("a")), None)
        [frame] = server.frames()
        self.assertEqual(frame["action"], "subscription_delete")
        self.assertEqual(frame["body"], {"queue_name": "a", "subscription_id": "sub-0-a"})
        self.assertEqual(frame["headers"], {"Client-ID": CLIENT_ID, "X-Project-ID": "p1"})
        server.notify("a")
        self.assertNotIn(("wake", "a"), self.target.events)
        self.assertEqual(push.queues_up, frozenset({"b"}))
        # unknown queue: nothing to send
        self.successResultOf(push.unwatch("never-watched"))
        self.assertEqual(server.frames(), [])

    def test_unwatch_while_the_create_is_in_flight(self) -> None:
        push = self.push()
        push.watch("a")
        push.start(self.target)
        server = ServerEnd(self.reactor)
        server.handshake()
        [create] = server.frames()
        push.unwatch("a")
        server.reply(create, 201, {"subscription_id": "late", "message": "created"})
        [delete] = server.frames()
        self.assertEqual((delete["action"], delete["body"]),
                         ("subscription_delete", {"queue_name": "a", "subscription_id": "late"}))
        self.assertEqual(self.target.events, [])

    def test_renewal_deletes_creates_and_wakes_once(self) -> None:
        push, server = self.up("a", subscription_ttl=100)
        self.assertEqual(push.requests_sent, 1)  # the creation
        self.reactor.advance(74.9)
        self.assertEqual(server.frames(), [])
        self.reactor.advance(0.1)
        delete, create = server.frames()
        self.assertEqual((delete["action"], delete["body"]),
                         ("subscription_delete", {"queue_name": "a", "subscription_id": "sub-0-a"}))
        self.assertEqual((create["action"], create["body"]), ("subscription_create", {"queue_name": "a", "ttl": 100}))
        server.reply(delete, 204, None)
        server.reply(create, 201, {"subscription_id": "second", "message": "created"})
        self.assertEqual(push.requests_sent, 3)
        self.assertEqual(self.target.events, [("push_up", "a"), ("wake", "a")])
        self.assertEqual(push.queues_up, frozenset({"a"}))
        # the next renewal deletes the new subscription, 75 s later
        self.reactor.advance(75)
        delete, _ = server.frames()
        self.assertEqual(delete["body"]["subscription_id"], "second")

    def test_target_errors_are_logged_not_raised(self) -> None:
        push, server = self.up("a")
        self.target.broken = True
        server.notify("a")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(push.state, "up")

    def test_url_function_is_asked_before_each_connection(self) -> None:
        urls = ["ws://127.0.0.1:1001/", "ws://127.0.0.1:1002/"]
        asked: list[str] = []

        def lookup() -> Deferred[str]:
            asked.append(urls[len(asked)])
            return succeed(asked[-1])

        push = self.push(url=lookup)
        push.start(self.target)
        server = ServerEnd(self.reactor)
        self.assertEqual(server.address, ("127.0.0.1", 1001))
        server.lose()
        self.reactor.advance(self.reconnect_delay())
        self.assertEqual(ServerEnd(self.reactor).address, ("127.0.0.1", 1002))
        self.assertEqual(len(asked), 2)

    def test_bad_url_from_the_function_is_a_failed_attempt(self) -> None:
        push = self.push(url=lambda: succeed("http://wrong/"))
        push.start(self.target)
        self.assertEqual(push.state, "down")
        [warning] = self.events(LogLevel.warn)
        self.assertIn("ws:// or wss://", warning["reason"])
        self.assertEqual(self.reactor.tcpClients, [])


class KeystoneTests(PushTestsMixin, SynchronousTestCase):
    keystone = True

    def test_authenticates_first_then_subscribes(self) -> None:
        push = self.push()
        push.watch("a")
        push.start(self.target)
        server = ServerEnd(self.reactor)
        server.handshake()
        [auth] = server.frames()
        self.assertEqual(auth, {"action": "authenticate",
                                "headers": {"X-Auth-Token": "token-0", "X-Project-ID": "p1"}})
        self.assertEqual(server.frames(), [])
        server.reply(auth, 200, {"message": "Authentified."})
        [create] = server.frames()
        self.assertEqual(create["headers"], {"Client-ID": CLIENT_ID, "X-Project-ID": "p1"})
        server.reply(create, 201, {"subscription_id": "s", "message": "created"})
        self.assertEqual(self.target.events, [("push_up", "a")])
        self.assertEqual(push.requests_sent, 2)  # authenticate counts too

    def test_token_is_never_logged(self) -> None:
        push, server = self.up("a")
        server.close(4003, "Authentication expired.")
        self.reactor.advance(0)
        self.accept(self.connect(push))
        self.assertEqual(push.state, "up")
        self.assertNotIn("token-", repr(list(self.log)))
        self.assertNotIn("token-", repr(push))

    def test_401_invalidates_and_backs_off(self) -> None:
        push = self.push(min_reconnect_delay=2)
        push.watch("a")
        push.start(self.target)
        server = ServerEnd(self.reactor)
        server.handshake()
        [auth] = server.frames()
        server.reply(auth, 401, {"error": "Authentication failed."})
        self.assertEqual(self.auth.invalidated, [{"X-Auth-Token": "token-0", "X-Project-ID": "p1"}])
        self.assertTrue(server.transport.disconnecting)
        self.assertEqual((push.state, self.reconnect_delay()), ("down", 2.0))
        [warning] = self.events(LogLevel.warn)
        self.assertEqual(warning["reason"], "authentication refused: 401 Authentication failed.")
        self.reactor.advance(2)
        server = ServerEnd(self.reactor)
        server.handshake()
        [auth] = server.frames()
        self.assertEqual(auth["headers"]["X-Auth-Token"], "token-1")

    def test_4003_invalidates_and_reconnects_at_once(self) -> None:
        push, server = self.up("a", "b", min_reconnect_delay=5)
        server.close(4003, "Authentication expired.")
        self.assertEqual(self.target.events[2:], [("push_down", "a", "authentication expired (4003)"),
                                                  ("push_down", "b", "authentication expired (4003)")])
        self.assertEqual(self.auth.invalidated, [{"X-Auth-Token": "token-0", "X-Project-ID": "p1"}])
        self.assertEqual(self.reconnect_delay(), 0)
        self.reactor.advance(0)
        self.assertEqual(push.reconnects, 1)
        server = ServerEnd(self.reactor)
        server.handshake()
        [auth] = server.frames()
        self.assertEqual(auth["headers"]["X-Auth-Token"], "token-1")
        server.reply(auth, 200, {"message": "Authentified."})
        self.accept(server)
        self.assertEqual(self.target.events[4:], [("push_up", "a"), ("push_up", "b")])
        # an expected expiry is no warning
        self.assertEqual(self.events(LogLevel.warn), [])

    def test_4003_twice_without_success_backs_off(self) -> None:
        push = self.push(min_reconnect_delay=5)
        push.watch("a")
        push.start(self.target)
        server = ServerEnd(self.reactor)
        server.handshake()
        server.frames()
        server.close(4003, "Authentication expired.")  # before authenticate was answered
        self.assertEqual(self.reconnect_delay(), 5)

    def learn_lifetime(self) -> tuple[WebSocketPush, ServerEnd]:
        """Two token expiries, the second of a fresh token that lasted 100 s."""
        push, server = self.up("a")
        self.reactor.advance(3)
        server.close(4003, "Authentication expired.")  # token-0 was cached: its lifetime is unknown
        self.reactor.advance(0)
        server = self.connect(push)  # token-1, fetched after invalidating: fresh
        self.accept(server)
        self.reactor.advance(100)
        self.assertEqual(server.frames(), [])
        server.close(4003, "Authentication expired.")  # token-1 lasted 100 s
        self.reactor.advance(0)
        server = self.connect(push)  # token-2
        self.accept(server)
        [learned] = [e for e in self.events(LogLevel.info) if "tokens last" in e["log_format"]]
        self.assertEqual(learned["seconds"], 100)
        return push, server

    def test_authenticates_again_before_a_told_expiry(self) -> None:
        """
        An authenticator that says when its token expires (Keystone's
        C{token_expires_at}): a new token at three quarters of the time
        left, on the same connection, with no 4003 first.
        """
        alsoProvides(self.auth, ITokenExpiry)
        self.auth.token_expires_at = time.time() + 200  # type: ignore[attr-defined]
        push, server = self.up("a")
        server.frames()
        self.reactor.advance(149)
        self.assertEqual(server.frames(), [])
        self.auth.token_expires_at = time.time() + 1000  # type: ignore[attr-defined]  # the next token's
        self.reactor.advance(2)
        [auth] = server.frames()
        self.assertEqual(auth["action"], "authenticate")
        self.assertEqual(auth["headers"]["X-Auth-Token"], "token-1")
        self.assertEqual(self.auth.invalidated[-1]["X-Auth-Token"], "token-0")
        self.assertEqual(push.reconnects, 0)

    def test_token_expiry_only_from_the_interface(self) -> None:
        """An authenticator with a C{token_expires_at} it does not declare (L{ITokenExpiry}) is not asked."""
        self.auth.token_expires_at = time.time() + 200  # type: ignore[attr-defined]
        push, server = self.up("a")
        server.frames()
        self.reactor.advance(151)
        self.assertEqual(server.frames(), [])
        self.assertEqual(push.reconnects, 0)

    def test_learns_token_lifetime_and_authenticates_again_before_expiry(self) -> None:
        push, server = self.learn_lifetime()
        self.reactor.advance(74.9)
        self.assertEqual(server.frames(), [])
        self.reactor.advance(0.1)
        [auth] = server.frames()
        self.assertEqual(auth["headers"]["X-Auth-Token"], "token-3")
        self.assertEqual(self.auth.invalidated[-1]["X-Auth-Token"], "token-2")
        server.reply(auth, 200, {"message": "Authentified."})
        self.reactor.advance(75)
        [auth] = server.frames()
        self.assertEqual(auth["headers"]["X-Auth-Token"], "token-4")
        # no push_down since the second expiry
        self.assertEqual([e[0] for e in self.target.events].count("push_down"), 2)
        self.assertEqual(push.reconnects, 2)

    def test_no_new_token_waits_for_the_expiry(self) -> None:
        push, server = self.learn_lifetime()
        self.auth.next = fail(AuthenticationFailed("Authentication failed", "Keystone said no"))
        self.reactor.advance(75)
        self.assertEqual(server.frames(), [])
        [warning] = self.events(LogLevel.warn)
        self.assertEqual(warning["error"], "AuthenticationFailed: Authentication failed - Keystone said no")
        self.assertEqual(push.state, "up")

    def test_credentials_refused_before_connecting(self) -> None:
        push = self.push(min_reconnect_delay=2)
        push.watch("a")
        self.auth.next = fail(AuthenticationFailed("Authentication failed", "Keystone said no"))
        push.start(self.target)
        self.assertEqual(self.reactor.tcpClients, [])
        self.assertEqual((push.state, self.reconnect_delay()), ("down", 2))
        [warning] = self.events(LogLevel.warn)
        self.assertEqual(warning["reason"],
                         "cannot connect: AuthenticationFailed: Authentication failed - Keystone said no")
        self.reactor.advance(2)
        self.assertEqual(len(self.reactor.tcpClients), 1)

    def test_refused_new_token_waits_for_the_expiry(self) -> None:
        push, server = self.learn_lifetime()
        self.reactor.advance(75)
        [auth] = server.frames()
        server.reply(auth, 401, {"error": "Authentication failed."})
        self.assertEqual(self.auth.invalidated[-1]["X-Auth-Token"], "token-3")
        self.assertEqual(push.state, "up")
        [warning] = self.events(LogLevel.warn)
        self.assertIn("could not authenticate again", warning["log_format"])
        self.assertFalse(server.transport.disconnecting)
        # nothing more until Zaqar closes at the old token's expiry
        self.reactor.advance(100)
        self.assertEqual(server.frames(), [])


class LossTests(PushTestsMixin, SynchronousTestCase):
    def fail_attempt(self) -> None:
        """Refuse the newest TCP connection (to an address: no name lookup, no second attempt)."""
        _, _, factory, _, _ = self.reactor.tcpClients[-1]
        factory.clientConnectionFailed(self.reactor.connectors[-1], Failure(ConnectionRefusedError()))

    def test_push_down_once_per_loss_then_retries(self) -> None:
        push, server = self.up("a", "b", min_reconnect_delay=1, max_reconnect_delay=4)
        server.lose()
        downs = [e for e in self.target.events if e[0] == "push_down"]
        self.assertEqual(downs, [("push_down", "a", "connection lost"), ("push_down", "b", "connection lost")])
        self.assertEqual((push.state, push.queues_up), ("down", frozenset()))
        delays = []
        for _ in range(4):
            delays.append(self.reconnect_delay())
            self.reactor.advance(delays[-1])
            self.fail_attempt()
        self.assertEqual([round(d, 6) for d in delays], [1, 2, 4, 4])
        self.assertEqual(len([e for e in self.target.events if e[0] == "push_down"]), 2)
        [warning] = self.events(LogLevel.warn)
        self.assertEqual((warning["reason"], warning["delay"]), ("connection lost", 1))
        self.assertEqual(len([e for e in self.events(LogLevel.debug) if "still down" in e["log_format"]]), 4)
        # back: one info saying after how long, and the delays start again
        self.reactor.advance(self.reconnect_delay())
        server = self.connect(push)
        self.accept(server)
        self.assertEqual(self.target.events[-2:], [("push_up", "a"), ("push_up", "b")])
        [again] = [e for e in self.events(LogLevel.info) if "again" in e["log_format"]]
        self.assertAlmostEqual(again["seconds"], 1 + 2 + 4 + 4 + 4)
        self.assertEqual(push.reconnects, 5)
        server.lose(ConnectionDone)
        self.assertEqual(self.reconnect_delay(), 1)

    def test_jitter_shortens_by_up_to_a_quarter(self) -> None:
        push = self.push(min_reconnect_delay=8, max_reconnect_delay=8, jitter=lambda: 0.999)
        push.start(self.target)
        self.fail_attempt()
        self.assertAlmostEqual(self.reconnect_delay(), 8 * (1 - 0.999 / 4))

    def test_close_by_the_server(self) -> None:
        push, server = self.up("a")
        server.close(1001, "going away")
        self.assertEqual(self.target.events[-1], ("push_down", "a", "connection closed (1001 going away)"))

    def test_refused_subscription_reconnects(self) -> None:
        push = self.push()
        push.watch("a")
        push.watch("b")
        push.start(self.target)
        server = ServerEnd(self.reactor)
        server.handshake()
        create_a, create_b = server.frames()
        server.reply(create_a, 201, {"subscription_id": "s", "message": "created"})
        server.reply(create_b, 503, {"error": "Subscription b could not be created."})
        self.assertEqual(self.target.events, [
            ("push_up", "a"),
            ("push_down", "a", "subscription of b refused: 503 Subscription b could not be created."),
        ])
        self.assertTrue(server.transport.disconnecting)
        self.assertEqual(push.state, "down")

    def test_handshake_refused(self) -> None:
        push = self.push()
        push.start(self.target)
        server = ServerEnd(self.reactor)
        server.protocol.dataReceived(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        if not server.transport.disconnecting:
            server.lose()
        else:
            server.lose(ConnectionDone)
        self.assertEqual(push.state, "down")
        self.assertEqual(len(self.events(LogLevel.warn)), 1)

    def test_no_handshake_answer_times_out(self) -> None:
        push = self.push(min_reconnect_delay=3)
        push.start(self.target)
        server = ServerEnd(self.reactor)
        self.reactor.advance(websocket_module.CONNECT_TIMEOUT)
        self.assertTrue(server.transport.disconnecting)
        self.assertEqual((push.state, self.reconnect_delay()), ("down", 3))
        [warning] = self.events(LogLevel.warn)
        self.assertEqual(warning["reason"], "no connection in 30s")

    def test_no_tcp_connection_times_out(self) -> None:
        push = self.push()
        push.start(self.target)
        self.reactor.advance(websocket_module.CONNECT_TIMEOUT)
        self.assertEqual(push.state, "down")
        [warning] = self.events(LogLevel.warn)
        self.assertEqual(warning["reason"], "no connection in 30s")


class StopTests(PushTestsMixin, SynchronousTestCase):
    def test_stop_while_connecting(self) -> None:
        push = self.push()
        push.watch("a")
        push.start(self.target)
        self.assertIsNone(self.successResultOf(push.stop()))
        self.assertEqual(push.state, "stopped")
        self.assertTrue(self.reactor.connectors[-1].stoppedConnecting)
        self.reactor.advance(1000)
        self.assertEqual(len(self.reactor.tcpClients), 1)
        self.assertEqual(self.target.events, [])

    def test_stop_while_waiting_for_credentials(self) -> None:
        push = self.push()
        pending: Deferred[dict[str, str]] = Deferred()
        self.auth.next = pending
        push.start(self.target)
        self.successResultOf(push.stop())
        self.assertTrue(pending.called)  # cancelled: the coroutine waiting on it consumed the CancelledError
        self.reactor.advance(1000)
        self.assertEqual(self.reactor.tcpClients, [])
        self.assertEqual(self.events(LogLevel.warn), [])

    def test_start_again_after_stop(self) -> None:
        push, server = self.up("a")
        push.stop()
        server.lose(ConnectionDone)
        push.start(self.target)
        server = self.connect(push)
        self.accept(server)
        self.assertEqual(self.target.events, [("push_up", "a"), ("push_up", "a")])

    def test_stop_while_waiting_to_reconnect(self) -> None:
        push = self.push()
        push.start(self.target)
        ServerEnd(self.reactor).lose()
        self.successResultOf(push.stop())
        self.reactor.advance(1000)
        self.assertEqual(len(self.reactor.tcpClients), 1)

    def test_stop_closes_with_a_handshake(self) -> None:
        push, server = self.up("a", subscription_ttl=60)
        stopped = push.stop()
        self.assertNoResult(stopped)
        self.assertEqual(server.frames(), [("close", 1000)])
        server.close(1000, "")
        server.lose(ConnectionDone)
        self.successResultOf(stopped)
        self.assertEqual(self.target.events, [("push_up", "a")])
        self.assertEqual(push.state, "stopped")
        self.reactor.advance(1000)
        self.assertEqual(server.frames(), [])  # no renewal
        self.assertEqual(len(self.reactor.tcpClients), 1)

    def test_stop_drops_after_a_bounded_wait(self) -> None:
        push, server = self.up("a")
        stopped = push.stop()
        self.reactor.advance(websocket_module.CLOSE_WAIT - 0.1)
        self.assertNoResult(stopped)
        self.assertFalse(server.transport.disconnecting)
        self.reactor.advance(0.1)
        self.successResultOf(stopped)
        self.assertTrue(server.transport.disconnecting)

    def test_stop_during_handshake(self) -> None:
        push = self.push()
        push.start(self.target)
        server = ServerEnd(self.reactor)
        self.successResultOf(push.stop())
        self.assertTrue(server.transport.disconnecting)


class TLSTests(PushTestsMixin, SynchronousTestCase):
    def test_wss_uses_the_policy(self) -> None:
        asked: list[tuple[bytes, int]] = []

        class Policy:
            def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
                asked.append((hostname, port))
                return optionsForClientTLS("zaqar.example")

        push = self.push(url="wss://127.0.0.1/", tls=Policy())
        push.start(self.target)
        self.assertEqual(asked, [(b"127.0.0.1", 443)])
        [(host, port, factory, _, _)] = self.reactor.tcpClients
        self.assertEqual((host, port), ("127.0.0.1", 443))
        self.assertIn("TLS", type(factory).__name__ + type(getattr(factory, "_wrappedFactory", None)).__name__)


class KeepaliveTests(PushTestsMixin, SynchronousTestCase):
    """Pings find a connection whose peer is gone without a word."""

    def test_answered_pings_keep_the_connection(self) -> None:
        push, server = self.up("a", keepalive=30)
        server.frames()
        for _ in range(4):
            self.reactor.advance(30)
            [ping] = server.frames()
            self.assertEqual(ping[0], "ping")
            server.send_bytes(ping[1], opcode=0xA)  # the pong
        self.assertEqual((push.state, push.queues_up), ("up", frozenset({"a"})))
        self.assertNotIn("push_down", [e[0] for e in self.target.events])

    def test_an_unanswered_ping_drops_the_connection(self) -> None:
        push, server = self.up("a", keepalive=30, min_reconnect_delay=1)
        server.frames()
        self.reactor.advance(30)
        self.assertEqual([f[0] for f in server.frames()], ["ping"])
        self.reactor.advance(29.9)
        self.assertEqual(push.state, "up")
        self.reactor.advance(0.1)
        self.assertEqual(self.target.events[-1], ("push_down", "a", "no answer to a ping within 30s"))
        self.assertEqual((push.state, self.reconnect_delay()), ("down", 1))
        self.assertTrue(server.transport.disconnecting)

    def test_no_pings(self) -> None:
        push, server = self.up("a", keepalive=0)
        server.frames()
        self.reactor.advance(3000)
        self.assertEqual([f for f in server.frames() if isinstance(f, tuple) and f[0] == "ping"], [])
        self.assertEqual(push.state, "up")

    def test_bad_keepalive(self) -> None:
        self.assertRaises(ClientValidationError, self.push, keepalive=-1)
