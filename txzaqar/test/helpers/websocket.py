"""
The in-memory Zaqar WebSocket end of the push unit tests: an authenticator
whose token changes on invalidate, and the server end of a connection the
test plays frame by frame.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionLost
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from txzaqar.auth.static import StaticAuthenticator
from txzaqar.interfaces import IAuthenticator

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLIENT_ID = "6f1b3c3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f"
URL = "ws://127.0.0.1:8902"


@implementer(IAuthenticator)
class FakeAuth(StaticAuthenticator):
    """Headers for project C{p1}; with C{keystone}, a token that changes on invalidate."""

    def __init__(self, keystone: bool = False) -> None:
        self.keystone = keystone
        self.generation = 0
        self.invalidated: list[dict[str, str]] = []
        self.asked = 0
        #: what the next headers() returns instead, if set
        self.next: Deferred[dict[str, str]] | None = None

    def headers(self) -> Deferred[dict[str, str]]:
        self.asked += 1
        if self.next is not None:
            d, self.next = self.next, None
            return d
        headers = {"X-Project-ID": "p1"}
        if self.keystone:
            headers["X-Auth-Token"] = f"token-{self.generation}"
        return succeed(headers)

    def invalidate(self, used: Any = None) -> bool:
        self.invalidated.append(dict(used or {}))
        if used is not None and used.get("X-Auth-Token") == f"token-{self.generation}":
            self.generation += 1
        return True


class Transport(StringTransport):
    """A L{StringTransport} that, like a TCP one, lets autobahn unregister a producer it never registered."""

    def unregisterProducer(self) -> None:
        self.producer = None


class ServerEnd:
    """
    The server end of the newest connection the reactor was asked for: it
    reads the client's (masked) frames and writes server frames.
    """

    def __init__(self, reactor: MemoryReactorClock) -> None:
        host, port, factory, _, _ = reactor.tcpClients[-1]
        self.address = (host, port)
        self.transport = Transport()
        self.protocol: Any = factory.buildProtocol(IPv4Address("TCP", host, port))
        self.protocol.makeConnection(self.transport)

    def handshake(self) -> None:
        request = self.transport.value()
        self.transport.clear()
        match = re.search(rb"Sec-WebSocket-Key: *(\S+)", request, re.IGNORECASE)
        assert match is not None, request
        accept = base64.b64encode(hashlib.sha1(match.group(1) + GUID).digest())
        self.protocol.dataReceived(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )

    def frames(self) -> list[Any]:
        """The client's frames since last asked: dicts for text, C{("close", code)} for a close."""
        data, frames = self.transport.value(), []
        self.transport.clear()
        while data:
            opcode, length = data[0] & 0x0F, data[1] & 0x7F
            offset = 2
            if length == 126:
                (length,) = struct.unpack("!H", data[2:4])
                offset = 4
            mask, offset = data[offset:offset + 4], offset + 4
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[offset:offset + length]))
            data = data[offset + length:]
            if opcode == 1:
                frames.append(json.loads(payload))
            elif opcode == 8:
                frames.append(("close", struct.unpack("!H", payload[:2])[0]))
            elif opcode == 9:
                frames.append(("ping", payload))
        return frames

    def send_bytes(self, payload: bytes, opcode: int = 1) -> None:
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([len(payload)])
        else:
            header += bytes([126]) + struct.pack("!H", len(payload))
        self.protocol.dataReceived(header + payload)

    def send(self, frame: Any) -> None:
        self.send_bytes(json.dumps(frame).encode())

    def reply(self, request: dict[str, Any], status: int, body: Any) -> None:
        """Zaqar's reply to C{request}: it echoes the request."""
        echoed = {"action": request["action"], "body": request.get("body", {}),
                  "headers": request["headers"], "api": "v2"}
        self.send({"request": echoed, "body": body, "headers": {"status": status}})

    def notify(self, queue: str) -> None:
        self.send({"ttl": 300, "body": {"secret": "body"}, "Message_Type": "Notification", "queue_name": queue})

    def close(self, code: int, reason: str) -> None:
        self.send_bytes(struct.pack("!H", code) + reason.encode(), opcode=8)

    def lose(self, reason: type[Exception] = ConnectionLost) -> None:
        self.protocol.connectionLost(Failure(reason()))
