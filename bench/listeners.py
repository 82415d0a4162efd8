"""
The bare listeners: the physical limit of push on this machine.

``python -m bench.listeners '<json spec>'`` subscribes to the spec's queue
and only time-stamps each notification, nothing else (no claim, no
client): the orchestrator posts ``{"t": time.time()}`` messages and
post->notification is ``arrival - t``.

* ``op: "websocket"``: one autobahn WebSocket connection to Zaqar's
  WebSocket transport, one ``subscription_create`` frame (no
  ``subscriber``: Zaqar forwards the notifications to this connection);
* ``op: "webhook"``: a ``twisted.web`` sink on a free loopback port and one
  webhook subscription made with a plain treq POST.

Like the other drivers it prints ``READY`` once subscribed, then one JSON
object as its last line: ``latencies`` (seconds), ``requests`` (stamps of
every request or frame it sent), ``deliveries`` (the latency split's
records: ``{"t", "cb"}``).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import treq
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, serverFromString
from twisted.web.resource import Resource
from twisted.web.server import Site

from bench._common import finish, run_driver


class Notifications:
    """What a listener heard: one record per notification of the watched queue."""

    def __init__(self, queue: str, expect: int) -> None:
        self.queue = queue
        self.expect = expect
        self.latencies: list[float] = []
        self.deliveries: list[dict] = []
        self.requests: list[float] = []
        self.others = 0  # notifications that were not one of our timestamped posts
        self.numbers: set[object] = set()  # the messages heard, by body["n"]
        self.done: Deferred[None] = Deferred()

    def heard(self, document: Any) -> None:
        now = time.time()
        body = document.get("body") if isinstance(document, dict) else None
        if not (isinstance(body, dict) and isinstance(body.get("t"), float)
                and document.get("queue_name") == self.queue):
            self.others += 1
            return
        self.latencies.append(now - body["t"])
        self.deliveries.append({"t": body["t"], "cb": now, "claim": None, "wake": now, "n": body.get("n")})
        self.numbers.add(body.get("n"))
        if len(self.numbers) >= self.expect:
            finish(self.done)

    def result(self) -> dict:
        return {"latencies": self.latencies, "requests": self.requests, "deliveries": self.deliveries,
                "claims": [], "other_notifications": self.others}


class _Listener(WebSocketClientProtocol):
    def onOpen(self) -> None:
        self.factory.opened(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.received(payload)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.factory.closed(code, reason)


class _ListenerFactory(WebSocketClientFactory):
    protocol = _Listener

    def __init__(self, url: str, spec: dict, heard: Notifications) -> None:
        super().__init__(url)
        self.spec = spec
        self.heard = heard
        self.subscribed: Deferred[None] = Deferred()
        self.connection: _Listener | None = None

    def opened(self, protocol: _Listener) -> None:
        self.connection = protocol
        frame = {"action": "subscription_create",
                 "headers": {"Client-ID": str(uuid.uuid4()), "X-Project-ID": self.spec["project"]},
                 "body": {"queue_name": self.spec["queue"], "ttl": 3600}}
        self.heard.requests.append(time.time())
        protocol.sendMessage(json.dumps(frame).encode())

    def received(self, payload: bytes) -> None:
        document = json.loads(payload)
        if document.get("Message_Type") == "Notification":
            self.heard.heard(document)
            return
        request = document.get("request") or {}
        if request.get("action") == "subscription_create" and not self.subscribed.called:
            status = (document.get("headers") or {}).get("status")
            if status == 201:
                self.subscribed.callback(None)
            else:
                self.subscribed.errback(RuntimeError(f"subscription_create: {document}"))

    def closed(self, code: int | None, reason: str | None) -> None:
        if not self.subscribed.called:
            self.subscribed.errback(RuntimeError(f"closed before subscribing: {code} {reason}"))
        elif not self.heard.done.called:
            self.heard.done.errback(RuntimeError(f"the WebSocket closed: {code} {reason}"))


async def websocket(reactor: Any, spec: dict) -> dict:
    """One WebSocket connection, one subscription; time-stamp each notification."""
    heard = Notifications(spec["queue"], spec["expect"])
    url = spec["websocket_url"]
    factory = _ListenerFactory(url, spec, heard)
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    await TCP4ClientEndpoint(reactor, host, int(port)).connect(factory)
    await factory.subscribed
    await _listen(reactor, spec, heard)
    if factory.connection is not None:
        factory.connection.sendClose(1000)
    return heard.result()


class _Sink(Resource):
    isLeaf = True

    def __init__(self, heard: Notifications) -> None:
        super().__init__()
        self.heard = heard

    def render_POST(self, request: Any) -> bytes:
        try:
            self.heard.heard(json.loads(request.content.read()))
        except ValueError:
            self.heard.others += 1
        return b""


async def webhook(reactor: Any, spec: dict) -> dict:
    """A loopback sink and one webhook subscription to it; time-stamp each POST."""
    heard = Notifications(spec["queue"], spec["expect"])
    site = Site(_Sink(heard))
    site.noisy = False
    port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(site)
    sink = f"http://127.0.0.1:{port.getHost().port}/sink"
    headers: dict[str | bytes, str | bytes] = {
        "Client-ID": str(uuid.uuid4()), "X-Project-ID": spec["project"], "Content-Type": "application/json"}
    base = f"{spec['url']}/v2/queues/{spec['queue']}/subscriptions"
    heard.requests.append(time.time())
    response = await treq.post(base, json.dumps({"subscriber": sink, "ttl": 3600}).encode(),
                               headers=headers, reactor=reactor, timeout=30)
    answer = await treq.json_content(response)
    if response.code != 201:
        raise RuntimeError(f"webhook subscription: {response.code} {answer}")
    await _listen(reactor, spec, heard)
    heard.requests.append(time.time())
    response = await treq.delete(f"{base}/{answer['subscription_id']}", headers=headers, reactor=reactor,
                                 timeout=30)
    await treq.content(response)
    await port.stopListening()
    return heard.result()


async def _listen(reactor: Any, spec: dict, heard: Notifications) -> None:
    """Say READY, then wait for every notification or the deadline."""
    timeout = reactor.callLater(spec["deadline"], finish, heard.done)
    print("READY", flush=True)
    await heard.done
    if timeout.active():
        timeout.cancel()


OPS = {"websocket": websocket, "webhook": webhook}


def main() -> None:
    run_driver(OPS)


if __name__ == "__main__":
    main()
