"""
The autobahn side of a WebSocket push connection: a client protocol that
hands its events to three callbacks, and its factory with autobahn's own
timers turned off (they would run on the global reactor, not on the one
we are given).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred

from .._support import validation as _validation


def check_url(url: object) -> tuple[str, int, bool]:
    """
    @return: the host, port and whether it is C{wss://}.
    @raise ClientValidationError: not a C{ws://} or C{wss://} URL.
    """
    parts = urlsplit(_validation.websocket_url(url, "url"))
    secure = parts.scheme == "wss"
    assert parts.hostname is not None  # checked
    return parts.hostname, parts.port or (443 if secure else 80), secure


class ZaqarClientProtocol(WebSocketClientProtocol):
    """One connection; its factory's callbacks get everything that happens on it."""

    def onOpen(self) -> None:
        """The WebSocket handshake is done."""
        self.factory.opened(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        """A frame arrived."""
        self.factory.received(self, payload, isBinary)

    def onPong(self, payload: bytes) -> None:
        """The answer to a ping."""
        self.factory.ponged(self)

    def onCloseFrame(self, code: int, reasonRaw: bytes) -> bool | None:
        """
        The server closes: a client would wait for the server to drop the
        TCP connection, with a timer on the global reactor that is turned
        off here, so the close frame is the end of the connection.
        """
        result = super().onCloseFrame(code, reasonRaw)
        self.factory.closed(self, self.remoteCloseCode, self.remoteCloseReason)
        return result

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        """The connection is gone (also when it never opened)."""
        self.factory.closed(self, code, reason)


class ConnectionFactory(WebSocketClientFactory):
    """
    The factory of one connection attempt.

    @param url: the C{ws://} or C{wss://} URL (for the handshake).
    @param reactor: the reactor.
    @param opened: called with the protocol once the handshake is done.
    @param received: called with the protocol, the payload and whether
        it is binary, for each frame.
    @param closed: called with the protocol, the close code (or C{None})
        and reason, when the server closes and when the connection is
        lost (so maybe twice).
    @param ponged: called with the protocol when a pong arrives.
    """

    protocol = ZaqarClientProtocol
    # no "Starting factory" line at info for every reconnect
    noisy = False

    def __init__(
        self,
        url: str,
        reactor: Any,
        opened: Callable[[ZaqarClientProtocol], None],
        received: Callable[[ZaqarClientProtocol, bytes, bool], None],
        closed: Callable[[ZaqarClientProtocol, int | None, str | None], None],
        ponged: Callable[[ZaqarClientProtocol], None] = lambda protocol: None,
    ) -> None:
        super().__init__(url, reactor=reactor)
        self.opened = opened
        self.received = received
        self.closed = closed
        self.ponged = ponged
        #: Fired (with C{None}) the first time the connection closes, once
        #: someone waits for that (C{None} until then).
        self.on_close: Deferred[None] | None = None
        self.setProtocolOptions(
            openHandshakeTimeout=0, closeHandshakeTimeout=0, serverConnectionDropTimeout=0, autoPingInterval=0
        )
