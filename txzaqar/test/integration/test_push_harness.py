"""
The push fixtures of the real-server harness (L{txzaqar.testing.servers}:
C{shared_push_zaqar}, C{push_zaqar}, C{shared_keystone_stack(push=True)},
C{serve --push}), proven with raw clients: autobahn's Twisted WebSocket
client speaking Zaqar's frames, treq for the HTTP API, a C{twisted.web}
sink for webhooks.  No txzaqar push code is used.

What the tests saw (frames, confirmation bodies, timings) is logged with
C{twisted.logger} under the namespace C{txzaqar.test.push_harness}, so it
can be read from C{_trial_temp/test.log}.  Waits poll a condition against a
generous deadline; there are no fixed sleeps.
"""

from __future__ import annotations

import datetime
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from typing import Any, cast
from urllib.parse import urlsplit

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Site

from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing import servers

log = Logger(namespace="txzaqar.test.push_harness")

#: How long any wait on a real server may take before the test fails.
PATIENCE = 30.0
CLIENT_ID = "5a0e2f7c-2f43-4c8e-8a53-3f1f6b2d9e01"
PROJECT = "txzaqar-push-harness"


class FrameRecorder(WebSocketClientProtocol):
    """Records every frame it receives, with the reactor time it arrived."""

    def __init__(self) -> None:
        super().__init__()
        #: C{(arrival time, parsed frame)} in arrival order.
        self.frames: list[tuple[float, Any]] = []
        #: Fires when the opening handshake completed.
        self.opened: Deferred[None] = Deferred()
        #: Fires with C{(wasClean, code, reason)} when the connection closed.
        self.closed: Deferred[tuple[bool, int | None, str | None]] = Deferred()

    def onOpen(self) -> None:
        self.opened.callback(None)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.frames.append((reactor.seconds(), json.loads(payload)))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if not self.opened.called:
            self.opened.errback(ConnectionError(f"closed before open: {code} {reason}"))
        self.closed.callback((wasClean, code, reason))

    def send(self, frame: dict[str, Any]) -> None:
        """Send I{frame} as a JSON text frame."""
        self.sendMessage(json.dumps(frame).encode("utf-8"), isBinary=False)

    def notifications(self, queue: str) -> list[tuple[float, dict[str, Any]]]:
        """The notification frames received for I{queue}."""
        return [
            (t, f)
            for t, f in self.frames
            if f.get("Message_Type") == "Notification" and f.get("queue_name") == queue
        ]

    async def call(self, action: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> Any:
        """Send a request frame and wait for the response to I{action}; the response frame."""
        return await self._call(action, headers, body, unless_closed=False)

    async def call_unless_closed(self, action: str, headers: dict[str, str]) -> Any:
        """L{call}, but C{None} when the connection closes before the response comes."""
        return await self._call(action, headers, None, unless_closed=True)

    async def _call(self, action: str, headers: dict[str, str], body: dict[str, Any] | None,
                    unless_closed: bool) -> Any:
        seen = len(self.frames)
        frame: dict[str, Any] = {"action": action, "headers": headers}
        if body is not None:
            frame["body"] = body
        self.send(frame)

        def response() -> Any:
            for _, f in self.frames[seen:]:
                if isinstance(f.get("request"), dict) and f["request"].get("action") == action:
                    return f
            return None

        def response_or_close() -> Any:
            return response() or (unless_closed and self.closed.called and "closed")

        answer = await wait_until(response_or_close, f"the response to {action}")
        return None if answer == "closed" else answer


async def open_websocket(test: unittest.TestCase, url: str) -> FrameRecorder:
    """Connect to I{url} (C{ws://127.0.0.1:PORT}); closed at the end of I{test}."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    factory = WebSocketClientFactory(url)
    factory.protocol = FrameRecorder
    endpoint = TCP4ClientEndpoint(reactor, parts.hostname, parts.port, timeout=10)
    proto = cast(FrameRecorder, await endpoint.connect(factory))

    async def close() -> None:
        if not proto.closed.called:
            proto.sendClose()
            await wait_until(lambda: proto.closed.called, "the WebSocket to close")

    test.addCleanup(lambda: Deferred.fromCoroutine(close()))
    await wait_until(lambda: proto.opened.called, "the WebSocket to open")
    await proto.opened
    return proto


def http_client() -> HTTPClient:
    """A treq client without persistent connections (nothing left open after a test)."""
    return HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))


async def http(method: str, url: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    """One HTTP request with a JSON body; C{(status, parsed JSON or None)}."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    all_headers: dict[str | bytes, str | bytes] = {"Client-ID": CLIENT_ID, "Content-Type": "application/json"}
    for name, value in headers.items():
        all_headers[name] = value
    response = await http_client().request(method, url, data=data, headers=all_headers, timeout=PATIENCE)
    raw = await response.content()
    return response.code, (json.loads(raw) if raw else None)


def queue_name(prefix: str) -> str:
    """A queue name unique to this run."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class WebSocketNoAuthTests(unittest.TestCase):
    """C{shared_push_zaqar()}: a message posted over HTTP reaches a WebSocket subscriber."""

    def setUp(self) -> None:
        self.zaqar = servers.shared_push_zaqar()
        self.headers = {"Client-ID": CLIENT_ID, "X-Project-ID": PROJECT}

    def test_fixture(self) -> None:
        """The fixture has an HTTP URL and a WebSocket URL on loopback, both answering."""
        assert self.zaqar.websocket_url is not None
        self.assertTrue(self.zaqar.url.startswith("http://127.0.0.1:"))
        self.assertTrue(self.zaqar.websocket_url.startswith("ws://127.0.0.1:"))
        self.assertEqual(servers.ping(self.zaqar.url), 204)
        self.assertEqual(
            servers.websocket_handshake(self.zaqar.websocket_url), "HTTP/1.1 101 Switching Protocols"
        )
        # shared: the same one again
        self.assertIs(servers.shared_push_zaqar(), self.zaqar)

    async def test_http_post_notifies_websocket_subscriber(self) -> None:
        assert self.zaqar.websocket_url is not None
        ws = await open_websocket(self, self.zaqar.websocket_url)
        queue = queue_name("wsq")
        self.addCleanup(
            lambda: Deferred.fromCoroutine(
                http("DELETE", f"{self.zaqar.url}/v2/queues/{queue}", {"X-Project-ID": PROJECT})
            )
        )
        created = await ws.call("subscription_create", self.headers, {"queue_name": queue, "ttl": 3600})
        log.info("subscription_create reply: {frame}", frame=json.dumps(created))
        self.assertEqual(created["headers"]["status"], 201)
        subscription_id = created["body"]["subscription_id"]

        got = await ws.call(
            "subscription_get", self.headers, {"queue_name": queue, "subscription_id": subscription_id}
        )
        log.info("subscription_get reply: {frame}", frame=json.dumps(got))
        notification_port = self.zaqar.websocket.notification_port  # type: ignore[union-attr]
        self.assertTrue(got["body"]["subscriber"].startswith(f"http://127.0.0.1:{notification_port}/"))

        # a second subscription_create for the same queue on the same connection
        again = await ws.call("subscription_create", self.headers, {"queue_name": queue, "ttl": 60})
        log.info("second subscription_create reply: {frame}", frame=json.dumps(again))
        self.assertEqual(again["headers"]["status"], 409)
        got = await ws.call(
            "subscription_get", self.headers, {"queue_name": queue, "subscription_id": subscription_id}
        )
        self.assertEqual(got["body"]["ttl"], 3600)
        # there is no subscription_update over the WebSocket
        update = await ws.call(
            "subscription_update",
            self.headers,
            {"queue_name": queue, "subscription_id": subscription_id, "ttl": 60},
        )
        log.info("subscription_update reply: {frame}", frame=json.dumps(update))
        self.assertEqual(update["headers"]["status"], 400)

        latencies = []
        for i in range(5):
            sent = reactor.seconds()
            status, _ = await http(
                "POST",
                f"{self.zaqar.url}/v2/queues/{queue}/messages",
                {"X-Project-ID": PROJECT},
                {"messages": [{"body": {"i": i}, "ttl": 300}]},
            )
            self.assertEqual(status, 201)

            def notified(i: int = i) -> tuple[float, dict[str, Any]] | None:
                return next((n for n in ws.notifications(queue) if n[1]["body"] == {"i": i}), None)

            arrived, frame = await wait_until(notified, f"the notification of message {i}")
            latencies.append(arrived - sent)
        log.info("notification frame: {frame}", frame=json.dumps(frame))
        self.assertEqual(
            frame, {"ttl": 300, "body": {"i": 4}, "Message_Type": "Notification", "queue_name": queue}
        )
        log.info(
            "post->notification latency (no auth, 5 posts): {ms}",
            ms=", ".join(f"{x * 1000:.1f} ms" for x in latencies),
        )


class WebSocketKeystoneTests(unittest.TestCase):
    """C{shared_keystone_stack(push=True)}: the catalog has the WebSocket; it wants C{authenticate}."""

    def setUp(self) -> None:
        self.stack = servers.shared_keystone_stack(push=True)

    def session(self) -> ks_session.Session:
        creds = self.stack.credentials
        auth = v3.Password(**cast(dict[str, Any], creds.demo.auth_kwargs(creds.auth_url)))
        return ks_session.Session(auth=auth, timeout=PATIENCE)

    async def test_catalog_authenticate_and_notification(self) -> None:
        sess = self.session()

        def login() -> tuple[str | None, str | None, str | None]:
            return (
                sess.get_token(),
                sess.get_project_id(),
                sess.get_endpoint(service_type="messaging-websocket", interface="public"),
            )

        token, project, ws_url = await deferToThread(login)
        assert token is not None and project is not None and ws_url is not None
        self.assertEqual(ws_url, self.stack.websocket_url)
        ws = await open_websocket(self, ws_url)
        headers = {"Client-ID": CLIENT_ID, "X-Project-ID": project}

        refused = await ws.call("subscription_create", headers, {"queue_name": "nope", "ttl": 60})
        self.assertEqual(refused["headers"]["status"], 403)

        auth = await ws.call("authenticate", {"X-Auth-Token": token, "X-Project-ID": project})
        self.assertEqual(auth["headers"]["status"], 200, auth)
        self.assertEqual(auth["body"], {"message": "Authentified."})

        queue = queue_name("ksq")
        http_headers = {"X-Auth-Token": token, "X-Project-ID": project}
        self.addCleanup(
            lambda: Deferred.fromCoroutine(
                http("DELETE", f"{self.stack.zaqar_url}/v2/queues/{queue}", http_headers)
            )
        )
        created = await ws.call("subscription_create", headers, {"queue_name": queue, "ttl": 3600})
        self.assertEqual(created["headers"]["status"], 201, created)

        sent = reactor.seconds()
        status, _ = await http(
            "POST",
            f"{self.stack.zaqar_url}/v2/queues/{queue}/messages",
            http_headers,
            {"messages": [{"body": "hello", "ttl": 120}]},
        )
        self.assertEqual(status, 201)
        arrived, frame = await wait_until(lambda: next(iter(ws.notifications(queue)), None), "a notification")
        self.assertEqual(
            frame, {"ttl": 120, "body": "hello", "Message_Type": "Notification", "queue_name": queue}
        )
        log.info("post->notification latency (keystone): {ms:.1f} ms", ms=(arrived - sent) * 1000)


class WebSocketShortTokenTests(unittest.TestCase):
    """A Keystone stack with 5-second tokens: the WebSocket closes with 4003 when the token expires."""

    timeout = 300

    def setUp(self) -> None:
        self.stack = servers.shared_keystone_stack(token_ttl=5, push=True)

    async def test_expiry_closes_with_4003(self) -> None:
        token, body = await deferToThread(self.stack.keystone.token, "demo")
        project = body["project"]["id"]
        ws = await open_websocket(self, self.stack.websocket_url)
        authenticated = reactor.seconds()
        auth = await ws.call("authenticate", {"X-Auth-Token": token, "X-Project-ID": project})
        self.assertEqual(auth["headers"]["status"], 200, auth)
        was_clean, code, reason = await wait_until(
            lambda: ws.closed.called and ws.closed.result, "the close on token expiry"
        )
        log.info(
            "token expiry close after {s:.1f}s: clean={clean} code={code} reason={reason!r}",
            s=reactor.seconds() - authenticated,
            clean=was_clean,
            code=code,
            reason=reason,
        )
        self.assertEqual((code, reason), (4003, "Authentication expired."))

    async def test_second_authenticate_moves_the_expiry(self) -> None:
        """
        A fresh token sent in a second C{authenticate} frame replaces the
        first one's expiry.  The second must reach Zaqar before the first
        token (5 s) expires: on a machine too slow for that this time, the
        attempt is made again on a new connection (against a deadline).
        """
        deadline = reactor.seconds() + 4 * PATIENCE
        attempts = 0
        while True:
            attempts += 1
            done = await self.authenticate_twice()
            if done is not None:
                break
            log.info("attempt {n}: the first token expired before the second authenticate was answered",
                     n=attempts)
            self.assertLess(reactor.seconds(), deadline,
                            f"{attempts} attempts: each time the first token expired before the second "
                            "authenticate was answered")
        ws, first_expiry, second_expiry = done

        _, code, reason = await wait_until(lambda: ws.closed.called and ws.closed.result, "the close")
        closed_at = datetime.datetime.now(datetime.UTC)
        log.info(
            "after a second authenticate: close {code} {reason!r} {late:.1f}s after the first token's expiry,"
            " {early:.1f}s from the second's ({attempts} attempts)",
            code=code,
            reason=reason,
            late=(closed_at - first_expiry).total_seconds(),
            early=(closed_at - second_expiry).total_seconds(),
            attempts=attempts,
        )
        self.assertEqual(code, 4003)
        self.assertGreater((closed_at - first_expiry).total_seconds(), 1.0)

    async def authenticate_twice(self) -> tuple[FrameRecorder, datetime.datetime, datetime.datetime] | None:
        """
        On a new connection, C{authenticate} with a token, then with one
        expiring at least 2 s later (Keystone's times have 1 s steps);
        polled for, not slept for.

        @return: the connection and the two expiry dates once Zaqar answered
            the second C{authenticate} (200) before closing the connection;
            C{None} when the first token expired first.
        """
        first, first_body = await deferToThread(self.stack.keystone.token, "demo")
        project = first_body["project"]["id"]
        first_expiry = datetime.datetime.fromisoformat(first_body["expires_at"].replace("Z", "+00:00"))
        ws = await open_websocket(self, self.stack.websocket_url)
        auth = await ws.call_unless_closed("authenticate", {"X-Auth-Token": first, "X-Project-ID": project})
        if auth is None or auth["headers"]["status"] != 200 and datetime.datetime.now(datetime.UTC) >= first_expiry:
            return None
        self.assertEqual(auth["headers"]["status"], 200, auth)
        while True:
            second, second_body = await deferToThread(self.stack.keystone.token, "demo")
            second_expiry = datetime.datetime.fromisoformat(second_body["expires_at"].replace("Z", "+00:00"))
            if (second_expiry - first_expiry).total_seconds() >= 2:
                break
            if ws.closed.called:
                return None
            await deferLater(reactor, 0.5, lambda: None)
        again = await ws.call_unless_closed("authenticate", {"X-Auth-Token": second, "X-Project-ID": project})
        if again is None:
            return None
        log.info("second authenticate reply: {frame}", frame=json.dumps(again))
        self.assertEqual(again["headers"]["status"], 200, again)
        return ws, first_expiry, second_expiry


class PrivateWebSocketRestartTests(unittest.TestCase):
    """C{push_zaqar()}: its WebSocket process can be SIGKILLed and restarted on the same port."""

    async def test_kill_and_restart_on_same_port(self) -> None:
        zaqar = await deferToThread(servers.push_zaqar)
        self.addCleanup(deferToThread, zaqar.stop)
        assert zaqar.websocket is not None
        headers = {"Client-ID": CLIENT_ID, "X-Project-ID": PROJECT}
        url, notification_port = zaqar.websocket_url, zaqar.websocket.notification_port
        queue = queue_name("restartq")

        ws = await open_websocket(self, url)
        created = await ws.call("subscription_create", headers, {"queue_name": queue, "ttl": 600})
        self.assertEqual(created["headers"]["status"], 201)

        await deferToThread(zaqar.websocket.kill)
        self.assertFalse(zaqar.websocket.running())
        was_clean, code, reason = await wait_until(lambda: ws.closed.called and ws.closed.result, "the drop")
        log.info(
            "client saw the SIGKILL as: clean={clean} code={code} reason={reason!r}",
            clean=was_clean,
            code=code,
            reason=reason,
        )
        self.assertFalse(was_clean)
        self.assertIsNone(await deferToThread(servers.websocket_handshake, url))
        # the HTTP server keeps running
        self.assertEqual(await deferToThread(servers.ping, zaqar.url), 204)

        await deferToThread(zaqar.websocket.start)
        log.info("WebSocket restart took {s:.2f}s", s=zaqar.websocket.startup_seconds)
        self.assertEqual(zaqar.websocket_url, url)
        self.assertEqual(zaqar.websocket.notification_port, notification_port)

        ws2 = await open_websocket(self, url)
        created = await ws2.call("subscription_create", headers, {"queue_name": queue, "ttl": 600})
        self.assertEqual(created["headers"]["status"], 201, created)
        listed = await ws2.call("subscription_list", headers, {"queue_name": queue})
        log.info(
            "subscriptions after the crash and a new subscribe: {subs}",
            subs=json.dumps(listed["body"]["subscriptions"]),
        )
        status, _ = await http(
            "POST",
            f"{zaqar.url}/v2/queues/{queue}/messages",
            {"X-Project-ID": PROJECT},
            {"messages": [{"body": "after restart", "ttl": 60}]},
        )
        self.assertEqual(status, 201)
        _, frame = await wait_until(lambda: next(iter(ws2.notifications(queue)), None), "a notification")
        self.assertEqual(frame["body"], "after restart")
        status, _ = await http("DELETE", f"{zaqar.url}/v2/queues/{queue}", {"X-Project-ID": PROJECT})
        self.assertEqual(status, 204)


class Sink(Resource):
    """A webhook receiver: records C{(arrival time, headers, body bytes)} of every POST."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        #: What was POSTed, in arrival order.
        self.posts: list[tuple[float, dict[str, str], bytes]] = []

    def render_POST(self, request: Any) -> bytes:
        headers = {k.decode(): b", ".join(v).decode() for k, v in request.requestHeaders.getAllRawHeaders()}
        self.posts.append((reactor.seconds(), headers, request.content.read()))
        return b""


class WebhookTests(unittest.TestCase):
    """The notifier of C{shared_push_zaqar()} POSTs to a webhook."""

    def start_sink(self) -> tuple[Sink, str]:
        sink = Sink()
        port = reactor.listenTCP(0, cast(Any, Site(sink)), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return sink, f"http://127.0.0.1:{cast(Any, port.getHost()).port}/hook"

    async def subscribe(self, zaqar: Any, queue: str, hook: str) -> str:
        headers = {"X-Project-ID": PROJECT}
        self.addCleanup(
            lambda: Deferred.fromCoroutine(http("DELETE", f"{zaqar.url}/v2/queues/{queue}", headers))
        )
        status, body = await http(
            "POST", f"{zaqar.url}/v2/queues/{queue}/subscriptions", headers, {"subscriber": hook, "ttl": 3600}
        )
        self.assertEqual(status, 201, body)
        return str(body["subscription_id"])

    async def post(self, zaqar: Any, queue: str, body: Any) -> float:
        sent = reactor.seconds()
        status, _ = await http(
            "POST",
            f"{zaqar.url}/v2/queues/{queue}/messages",
            {"X-Project-ID": PROJECT},
            {"messages": [{"body": body, "ttl": 300}]},
        )
        self.assertEqual(status, 201)
        return sent

    async def test_webhook(self) -> None:
        zaqar = servers.shared_push_zaqar()
        sink, hook = self.start_sink()
        queue = queue_name("hookq")
        await self.subscribe(zaqar, queue, hook)
        sent = await self.post(zaqar, queue, {"n": 1})
        arrived, headers, raw = await wait_until(lambda: next(iter(sink.posts), None), "the webhook POST")
        log.info(
            "webhook POST headers: {headers}; body: {body}", headers=json.dumps(headers), body=raw.decode()
        )
        log.info("post->webhook latency: {ms:.1f} ms", ms=(arrived - sent) * 1000)
        self.assertEqual(
            json.loads(raw),
            {"ttl": 300, "body": {"n": 1}, "Message_Type": "Notification", "queue_name": queue},
        )

    async def test_confirmation_required(self) -> None:
        zaqar = await deferToThread(servers.shared_push_zaqar, require_confirmation=True)
        self.assertIsNot(zaqar, servers.shared_push_zaqar())
        sink, hook = self.start_sink()
        queue = queue_name("confirmq")
        subscription_id = await self.subscribe(zaqar, queue, hook)
        _, _, raw = await wait_until(lambda: next(iter(sink.posts), None), "the confirmation request")
        log.info("confirmation request body: {body}", body=raw.decode())
        request = json.loads(raw)
        self.assertEqual(request["Message_Type"], "SubscriptionConfirmation")
        self.assertEqual(request["URL-Paths"], f"/v2/queues/{queue}/subscriptions/{subscription_id}/confirm")
        self.assertEqual(request["URL-Methods"], "PUT")
        self.assertEqual(request["SubscribeBody"], {"confirmed": True})

        # not confirmed yet: a message is not delivered
        await self.post(zaqar, queue, "before confirmation")

        confirm_headers = {
            k: request[k]
            for k in ("URL-Signature", "URL-Methods", "URL-Paths", "URL-Expires", "X-Project-ID")
        }
        status, body = await http(
            "PUT", zaqar.url + request["URL-Paths"], confirm_headers, request["SubscribeBody"]
        )
        self.assertEqual(status, 204, body)

        await self.post(zaqar, queue, "after confirmation")
        _, _, raw = await wait_until(lambda: sink.posts[1:] and sink.posts[1], "the first notification")
        self.assertEqual(json.loads(raw)["body"], "after confirmation")
        self.assertEqual(len(sink.posts), 2)


def _read_until(proc: subprocess.Popen[bytes], key: str, timeout: float) -> dict[str, str]:
    """Read I{proc}'s stdout lines C{K=V} until one sets I{key}; all of them."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen: dict[str, str] = {}
    pending = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # raw reads: a buffered readline() would hide lines from select()
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            name, _, value = line.decode().strip().partition("=")
            seen[name] = value
        if key in seen:
            return seen
    raise AssertionError(f"no {key}=... line within {timeout}s; saw {seen}")


class ServePushTests(unittest.SynchronousTestCase):
    """C{python -m txzaqar.testing serve --push} as a subprocess."""

    def serve(self, *args: str, until: str) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
        """Start C{serve ARGS}; it and what it printed up to the line setting I{until}."""
        stderr = open(self.mktemp(), "wb")  # noqa: SIM115 - closed in cleanup
        self.addCleanup(stderr.close)
        proc = subprocess.Popen(
            [sys.executable, "-m", "txzaqar.testing", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )

        def stop() -> None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            assert proc.stdout is not None
            proc.stdout.close()

        self.addCleanup(stop)
        return proc, _read_until(proc, until, 180)

    def test_serve_push(self) -> None:
        proc, env = self.serve("--push", until="TXZAQAR_WEBSOCKET_URL")
        ws_url = env["TXZAQAR_WEBSOCKET_URL"]
        log.info("serve --push printed: {env}", env=json.dumps(env))
        self.assertTrue(ws_url.startswith("ws://127.0.0.1:"))
        self.assertEqual(servers.websocket_handshake(ws_url), "HTTP/1.1 101 Switching Protocols")
        self.assertEqual(servers.ping(env["TXZAQAR_ZAQAR_URL"]), 204)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(60), 0)
        # stopped with the others
        self.assertIsNone(servers.websocket_handshake(ws_url))

    def test_serve_keystone_push(self) -> None:
        """With C{--keystone --push} the stack's WebSocket URL is printed and is in the catalog."""
        proc, env = self.serve("--keystone", "--push", until="TXZAQAR_KEYSTONE_WEBSOCKET_URL")
        log.info("serve --keystone --push printed: {env}", env=json.dumps(env))
        ws_url = env["TXZAQAR_KEYSTONE_WEBSOCKET_URL"]
        self.assertNotEqual(ws_url, env["TXZAQAR_WEBSOCKET_URL"])
        self.assertEqual(servers.websocket_handshake(ws_url), "HTTP/1.1 101 Switching Protocols")
        auth = v3.Password(
            auth_url=env["TXZAQAR_KEYSTONE_URL"],
            username="demo",
            password="demo-secret",
            project_name="demo",
            user_domain_id="default",
            project_domain_id="default",
        )
        endpoint = ks_session.Session(auth=auth, timeout=PATIENCE).get_endpoint(
            service_type="messaging-websocket", interface="public"
        )
        self.assertEqual(endpoint, ws_url)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(60), 0)
        self.assertIsNone(servers.websocket_handshake(ws_url))

    def test_help_mentions_push(self) -> None:
        for command in ("serve", "run"):
            out = subprocess.run(
                [sys.executable, "-m", "txzaqar.testing", command, "--help"],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "COLUMNS": "200"},
            ).stdout
            self.assertIn("--push", out)
            self.assertIn("TXZAQAR_WEBSOCKET_URL", out)
