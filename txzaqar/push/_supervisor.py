"""
The life of a WebSocket push connection: L{Supervisor} connects (URL,
credentials, TCP, TLS, handshake) within a timeout, keeps an idle
connection honest with pings, and when the connection fails drops it and
reconnects after a backoff delay, logging "down" once and "up again"
once.  What is said on the connection (C{authenticate}, subscriptions) is
its owner's business, told through callbacks.

Why not C{twisted.application.internet.ClientService}: a connection its
C{prepareConnection} rejects (an C{authenticate} or C{subscription_create}
refused) stays open, and when it is then closed ClientService's machine
has no transition for the loss (C{NoTransition} out of C{connectionLost});
it schedules a retry only once the transport reports the loss, resets its
count on every connection made (here: once a subscription is created) and
closes without the WebSocket close handshake.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

from autobahn.twisted.websocket import WebSocketClientProtocol
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import BrowserLikePolicyForHTTPS

from ..interfaces import IAuthenticator
from ._protocol import ConnectionFactory, ZaqarClientProtocol, check_url
from .backoff import ReconnectDelay

#: The push sources' logger (namespace C{txzaqar.push}).
log = Logger(namespace="txzaqar.push")

#: The close code Zaqar sends when the token a connection authenticated
#: with expires ("Authentication expired.").
AUTHENTICATION_EXPIRED = 4003
#: Seconds to get from "connect" to an authenticated connection (URL
#: lookup, credentials, TCP, TLS, WebSocket handshake, C{authenticate}).
CONNECT_TIMEOUT = 30.0
#: Seconds L{Supervisor.stop} waits for the close handshake.
CLOSE_WAIT = 2.0


def _endpoint(reactor: Any, host: str, port: int) -> Any:
    """A TCP endpoint to C{host}; an address connects directly, without a name lookup."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return HostnameEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)
    if address.version == 6:
        return TCP6ClientEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)
    return TCP4ClientEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)


class Supervisor:
    """
    One WebSocket connection at a time, reconnected after failures.

    @param url: a C{ws://} or C{wss://} URL, or a function of no argument
        returning a Deferred (or awaitable) firing with one, called before
        each connection.
    @param authenticator: gives the headers of each connection.
    @param reactor: an C{IReactorTime} and C{IReactorTCP}.
    @param tls: the C{IPolicyForHTTPS} for C{wss://} (C{None}: Twisted's
        browser-like verification).
    @param delays: the reconnect delays.
    @param keepalive: seconds between pings once ready (C{0}: none).
    @param opened: called with the headers once the handshake is done;
        the owner then calls L{ready} (or L{fail}).
    @param received: called with the payload and whether it is binary,
        for each frame of the current connection.
    @param expired: called when Zaqar closes with
        L{AUTHENTICATION_EXPIRED}, before the connection is failed.
    @param forget: called when the connection is forgotten (failed or
        stopped): per-connection state goes.
    @param down: called with the reason after a failure dropped the
        connection (before the reconnect is scheduled).
    """

    def __init__(
        self,
        url: str | Callable[[], Deferred[str] | Awaitable[str]],
        authenticator: IAuthenticator,
        reactor: Any,
        tls: Any,
        delays: ReconnectDelay,
        keepalive: float,
        *,
        opened: Callable[[dict[str, str]], None],
        received: Callable[[bytes, bool], None],
        expired: Callable[[], None],
        forget: Callable[[], None],
        down: Callable[[str], None],
    ) -> None:
        self._url = url
        self._auth = authenticator
        self._reactor = reactor
        self._tls = tls
        self._delays = delays
        self._keepalive = keepalive
        self._on_opened = opened
        self._on_received = received
        self._on_expired = expired
        self._on_forget = forget
        self._on_down = down
        #: Connections opened after the first one (retries and reconnects).
        self.reconnects = 0
        #: C{"stopped"}, C{"connecting"}, C{"up"} or C{"down"}.
        self.state = "stopped"
        #: Whether the current connection is ready (L{ready} was called).
        self.is_ready = False
        self._stopped = True
        self._started = False
        self._attempt: Deferred[None] | None = None
        self._protocol: ZaqarClientProtocol | None = None
        self._timers: dict[str, IDelayedCall] = {}
        self._timeout_reason: str | None = None
        self._awaiting_pong = False
        # down/up logging and the 4003 fast path
        self._down_since: float | None = None
        self._may_reconnect_at_once = False

    def start(self) -> None:
        """Begin connecting, unless already started."""
        if self._stopped:
            self._stopped = False
            self._connect()

    def send(self, payload: bytes) -> None:
        """Send a text frame on the current connection."""
        assert self._protocol is not None
        self._protocol.sendMessage(payload, isBinary=False)

    def ready(self) -> None:
        """The connection is ready (authenticated, if it had to be): stop the connect timeout."""
        self.is_ready = True
        self._may_reconnect_at_once = True
        self._cancel("timeout")

    def start_pings(self) -> None:
        """Begin the keepalive pings (after L{ready})."""
        if self._keepalive:
            self._timers["ping"] = self._reactor.callLater(self._keepalive, self._ping)

    def up(self) -> None:
        """Push is up (a subscription was created): the delays start again; say so once."""
        self._delays.reset()
        if self.state == "up":
            return
        self.state = "up"
        if self._down_since is not None:
            log.info("WebSocket push up again after {seconds:.1f}s",
                     seconds=self._reactor.seconds() - self._down_since)
            self._down_since = None
        else:
            log.info("WebSocket push up")

    def stop(self) -> Deferred[None]:
        """
        Stop: cancel timers and any connection attempt, close the
        connection, waiting at most C{CLOSE_WAIT} seconds for the close
        handshake before dropping it.

        @return: a Deferred firing with C{None} once closed; never fails.
        """
        self._stopped = True
        self.state = "stopped"
        for name in list(self._timers):
            self._cancel(name)
        protocol = self._protocol
        self._forget_connection()
        if protocol is None:
            return succeed(None)
        if protocol.state != WebSocketClientProtocol.STATE_OPEN:
            protocol.dropConnection(abort=True)
            return succeed(None)
        closed: Deferred[None] = Deferred()

        def drop() -> None:
            protocol.dropConnection(abort=True)
            if not closed.called:
                closed.callback(None)

        wait = self._reactor.callLater(CLOSE_WAIT, drop)

        def done(_: object) -> None:
            if wait.active():
                wait.cancel()
            protocol.dropConnection(abort=True)

        closed.addCallback(done)
        protocol.factory.on_close = closed
        try:
            protocol.sendClose(1000)
        except Exception:
            # autobahn refuses in states it thinks impossible: just drop
            log.failure("WebSocket push could not send a close frame")
            drop()
        return closed

    # -- connecting -----------------------------------------------------

    def _connect(self) -> None:
        self._timers.pop("reconnect", None)
        if self._stopped:
            return
        if self._started:
            self.reconnects += 1
        self._started = True
        self.state = "connecting"
        self._timeout_reason = None
        self._timers["timeout"] = self._reactor.callLater(CONNECT_TIMEOUT, self._timed_out)
        attempt = Deferred.fromCoroutine(self._open())
        if not attempt.called:
            self._attempt = attempt
        attempt.addErrback(self._attempt_failed)

    async def _open(self) -> None:
        url = self._url
        if callable(url):
            url = await url()
        host, port, secure = check_url(url)
        self._headers = dict(await self._auth.headers())
        factory = ConnectionFactory(url, self._reactor, self._opened, self._received, self._closed,
                                    self._ponged)
        endpoint: Any = _endpoint(self._reactor, host, port)
        if secure:
            policy = self._tls if self._tls is not None else BrowserLikePolicyForHTTPS()
            endpoint = wrapClientTLS(policy.creatorForNetloc(host.encode("idna"), port), endpoint)
        self._protocol = await endpoint.connect(factory)
        self._attempt = None

    def _attempt_failed(self, failure: Failure) -> None:
        self._attempt = None
        if self._stopped:
            return None
        self.fail(self._timeout_reason or f"cannot connect: {failure.getErrorMessage() or repr(failure.value)}")
        return None

    def _timed_out(self) -> None:
        self._timers.pop("timeout", None)
        self._timeout_reason = f"no connection in {CONNECT_TIMEOUT:g}s"
        if self._attempt is not None:
            self._attempt.cancel()
        else:
            self.fail(self._timeout_reason)

    def _opened(self, protocol: ZaqarClientProtocol) -> None:
        if protocol is self._protocol:
            self._on_opened(self._headers)

    def _received(self, protocol: ZaqarClientProtocol, payload: bytes, binary: bool) -> None:
        if protocol is self._protocol:
            self._on_received(payload, binary)

    # -- losing the connection --------------------------------------------

    def _closed(self, protocol: ZaqarClientProtocol, code: int | None, reason: str | None) -> None:
        closed = protocol.factory.on_close
        if closed is not None and not closed.called:
            closed.callback(None)
        if protocol is not self._protocol or self._stopped:
            return
        if code == AUTHENTICATION_EXPIRED:
            self._on_expired()
            self.fail("authentication expired (4003)", at_once=True)
        elif code is None or code == 1006:
            self.fail("connection lost")
        else:
            self.fail(f"connection closed ({code} {reason or ''})".replace(" )", ")"))

    def _ping(self) -> None:
        """
        Every C{keepalive} seconds: a connection whose peer is gone without
        a FIN (a NAT or load balancer forgot it) would otherwise look up
        for ever while no notification can come through it.
        """
        if self._protocol is None:
            return
        if self._awaiting_pong:
            self.fail(f"no answer to a ping within {self._keepalive:g}s")
            return
        self._awaiting_pong = True
        self._protocol.sendPing()
        self.start_pings()

    def _ponged(self, protocol: ZaqarClientProtocol) -> None:
        if protocol is self._protocol:
            self._awaiting_pong = False

    def _forget_connection(self) -> None:
        """Forget everything about the current connection."""
        self._awaiting_pong = False
        if self._attempt is not None:
            attempt, self._attempt = self._attempt, None
            attempt.cancel()
        for name in [name for name in self._timers if name != "reconnect"]:
            self._cancel(name)
        self._protocol = None
        self.is_ready = False
        self._on_forget()

    def fail(self, reason: str, at_once: bool = False) -> None:
        """
        Drop the connection, tell the owner it is down, and reconnect
        later (at once after a token expiry, if the connection before was
        ready: else after the next backoff delay).
        """
        protocol = self._protocol
        self._forget_connection()
        if protocol is not None:
            protocol.dropConnection(abort=True)
        self._on_down(reason)
        if at_once and self._may_reconnect_at_once:
            delay = 0.0
        else:
            delay = self._delays.next()
        self._may_reconnect_at_once = False
        if self._down_since is None:
            self._down_since = self._reactor.seconds()
            if at_once:
                log.info("WebSocket push down: {reason}; reconnecting in {delay:.1f}s", reason=reason, delay=delay)
            else:
                log.warn("WebSocket push down: {reason}; reconnecting in {delay:.1f}s", reason=reason, delay=delay)
        else:
            log.debug("WebSocket push still down: {reason}; next attempt in {delay:.1f}s", reason=reason, delay=delay)
        self.state = "down"
        self._timers["reconnect"] = self._reactor.callLater(delay, self._connect)

    def _cancel(self, name: str) -> None:
        call = self._timers.pop(name, None)
        if call is not None and call.active():
            call.cancel()


__all__ = ["AUTHENTICATION_EXPIRED", "CLOSE_WAIT", "CONNECT_TIMEOUT", "Supervisor"]
