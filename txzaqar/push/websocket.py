"""
Zaqar's WebSocket notifications as wake-ups: L{WebSocketPush}.

One WebSocket connection to Zaqar's WebSocket transport carries one
C{subscription_create} per watched queue; Zaqar then forwards a
notification frame for every message posted to such a queue.  A
notification has no message id, so it only wakes the target up.
"""

from __future__ import annotations

import ipaddress
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from autobahn.twisted.websocket import WebSocketClientProtocol
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP6ClientEndpoint,
    wrapClientTLS,
)
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import BrowserLikePolicyForHTTPS
from zope.interface import implementer

from .._support import validation as _validation
from ..errors import ClientValidationError
from ..interfaces import IAuthenticator, ITokenExpiry, IWakeSource, IWakeTarget
from . import _frames
from ._protocol import ConnectionFactory, ZaqarClientProtocol, check_url
from ._target import tell
from ._tokens import TokenLifetime
from .backoff import ReconnectDelay

#: The push sources' logger (namespace C{txzaqar.push}).
log = Logger(namespace="txzaqar.push")

#: The close code Zaqar sends when the token a connection authenticated
#: with expires ("Authentication expired.").
AUTHENTICATION_EXPIRED = 4003
#: Seconds to get from "connect" to an authenticated connection (URL
#: lookup, credentials, TCP, TLS, WebSocket handshake, C{authenticate}).
CONNECT_TIMEOUT = 30.0
#: Seconds L{WebSocketPush.stop} waits for the close handshake.
CLOSE_WAIT = 2.0
#: A subscription is renewed when this share of its ttl has passed.
RENEW_AFTER = 0.75


def _endpoint(reactor: Any, host: str, port: int) -> Any:
    """A TCP endpoint to C{host}; an address connects directly, without a name lookup."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return HostnameEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)
    if address.version == 6:
        return TCP6ClientEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)
    return TCP4ClientEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)


def _delay(field: str, value: object) -> float:
    """A delay in seconds, zero or more."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ClientValidationError(field, f"must be a number of seconds, zero or more, not {value!r}")
    return float(value)


@implementer(IWakeSource)
class WebSocketPush:
    """
    Wake-ups from Zaqar's WebSocket transport: one connection, one push
    subscription per watched queue, reconnecting with backoff.

    With Keystone (the authenticator's headers have C{X-Auth-Token}) the
    first frame is C{authenticate}; Zaqar closes the connection with code
    4003 when that token expires, and the source then forgets the token
    and reconnects at once.  When the authenticator says when its token
    expires (L{ITokenExpiry}, e.g. L{txzaqar.auth.Keystone}), the source
    authenticates again with a new token at three quarters of the time
    left (Zaqar resets its expiry timer on every C{authenticate}), so no
    4003 comes; otherwise it learns how long tokens last from the 4003 of
    a fresh token and does the same from then on.
    Without Keystone no C{authenticate} is sent (Zaqar would drop the
    connection).

    Subscriptions live C{subscription_ttl} seconds; Zaqar has no update
    over WebSocket and refuses a second one for the same connection and
    queue, so each is deleted and created again after three quarters of
    its ttl, and the queue is woken once after that (a message posted in
    between sent no notification).

    @param url: a C{ws://} or C{wss://} URL, or a function of no argument
        returning a Deferred (or awaitable) firing with one, called before
        each connection (e.g. a Keystone catalog lookup).
    @param authenticator: the L{IAuthenticator} giving C{X-Project-ID}
        (and C{X-Auth-Token}).
    @param reactor: an C{IReactorTime} and C{IReactorTCP}.
    @param tls: the C{IPolicyForHTTPS} for C{wss://} (default: Twisted's
        browser-like verification).
    @param client_id: the C{Client-ID} (a UUID) of every frame (default: a
        new one).
    @param subscription_ttl: seconds each push subscription lives (at
        least 60); they are renewed before they end.
    @param min_reconnect_delay: the first delay after a failure (seconds).
    @param max_reconnect_delay: the longest delay (seconds).
    @param jitter: a function returning a float in M{[0, 1)}; each delay is
        shortened by up to a quarter of it.
    @param keepalive: seconds between pings on an idle connection; a ping
        not answered by the next one drops the connection (push is then
        down and reconnects), so a peer gone without a word is noticed.
        C{0}: no pings.
    @raise ClientValidationError: a bad URL, ttl, delay or client id.
    """

    #: What pushes, for logs and metrics.
    kind = "websocket"

    def __init__(
        self,
        url: str | Callable[[], Deferred[str] | Awaitable[str]],
        authenticator: IAuthenticator,
        reactor: Any,
        *,
        tls: Any = None,
        client_id: str | None = None,
        subscription_ttl: int = 3600,
        min_reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 30.0,
        jitter: Callable[[], float] = random.random,
        keepalive: float = 30.0,
    ) -> None:
        if not callable(url):
            check_url(url)
        self._ttl = _validation.integer(
            "subscription_ttl", subscription_ttl, _validation.MIN_SUBSCRIPTION_TTL, _validation.MAX_INT64
        )
        low = _delay("min_reconnect_delay", min_reconnect_delay)
        high = _delay("max_reconnect_delay", max_reconnect_delay)
        if high < low:
            raise ClientValidationError("max_reconnect_delay", f"{high:g} is below min_reconnect_delay {low:g}")
        if client_id is None:
            client_id = str(uuid.uuid4())
        else:
            try:
                uuid.UUID(str(client_id))
            except ValueError:
                raise ClientValidationError("client_id", f"{client_id!r} is not a UUID") from None
        self._url = url
        self._auth = authenticator
        self._reactor = reactor
        self._tls = tls
        self._client_id = str(client_id)
        self._delays = ReconnectDelay(low, high, jitter)
        self._keepalive = _delay("keepalive", keepalive)
        self._awaiting_pong = False

        #: Connections opened after the first one (retries and reconnects).
        self.reconnects = 0
        #: Notification frames received (for watched queues or not).
        self.notifications = 0
        #: C{"stopped"} (before L{start}, after L{stop}), C{"connecting"},
        #: C{"up"} (connected, and a subscription was created) or C{"down"}
        #: (waiting to reconnect).
        self.state = "stopped"

        self._target: IWakeTarget | None = None
        self._stopped = True
        self._started = False
        self._watched: set[str] = set()
        self._up: set[str] = set()
        # of the current connection:
        self._attempt: Deferred[None] | None = None
        self._protocol: ZaqarClientProtocol | None = None
        self._headers: dict[str, str] = {}
        self._ready = False
        self._authenticating: dict[str, str] | None = None
        self._subscriptions: dict[str, str] = {}
        self._creating: set[str] = set()
        self._renewing: set[str] = set()
        self._timers: dict[str, IDelayedCall] = {}
        self._timeout_reason: str | None = None
        self._tokens = TokenLifetime(reactor)
        # down/up logging and the 4003 fast path
        self._down_since: float | None = None
        self._may_reconnect_at_once = False

    def __repr__(self) -> str:
        return f"<WebSocketPush state={self.state} queues_up={len(self._up)}>"

    @property
    def queues_up(self) -> frozenset[str]:
        """The queues whose notifications flow now (reported with C{push_up})."""
        return frozenset(self._up)

    # -- IWakeSource --------------------------------------------------

    def start(self, target: IWakeTarget) -> Deferred[None]:
        """
        Begin connecting; the watched queues are subscribed once connected.

        @param target: the L{IWakeTarget} to tell.
        @return: a Deferred firing with C{None} at once (connecting has
            begun; L{IWakeTarget.push_up} says when push is up).
        """
        self._target = target
        if self._stopped:
            self._stopped = False
            self._connect()
        return succeed(None)

    def watch(self, queue_name: str) -> None:
        """
        Subscribe C{queue_name} (now, or once connected).

        @raise ClientValidationError: not a valid queue name.
        """
        _validation.queue_name(queue_name)
        if queue_name in self._watched:
            return
        self._watched.add(queue_name)
        if self._ready and queue_name not in self._creating:
            self._subscribe(queue_name)

    def unwatch(self, queue_name: str) -> Deferred[None]:
        """
        Forget C{queue_name}: delete its subscription if it has one.

        @return: a Deferred firing with C{None} (at once; never fails).
        """
        self._watched.discard(queue_name)
        self._up.discard(queue_name)
        self._renewing.discard(queue_name)
        self._cancel(f"renew {queue_name}")
        subscription_id = self._subscriptions.pop(queue_name, None)
        if subscription_id is not None and self._ready:
            self._send(_frames.SUBSCRIPTION_DELETE, {"queue_name": queue_name, "subscription_id": subscription_id})
        return succeed(None)

    def stop(self) -> Deferred[None]:
        """
        Stop: cancel timers and any connection attempt, close the
        connection (Zaqar then deletes its subscriptions), waiting at most
        C{CLOSE_WAIT} seconds for the close handshake before dropping it.

        @return: a Deferred firing with C{None} once closed; never fails.
        """
        self._stopped = True
        self.state = "stopped"
        for name in list(self._timers):
            self._cancel(name)
        protocol = self._protocol
        self._forget_connection()
        self._up.clear()
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
        headers = dict(await self._auth.headers())
        self._headers = headers
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
        self._fail(self._timeout_reason or f"cannot connect: {failure.getErrorMessage() or repr(failure.value)}")
        return None

    def _timed_out(self) -> None:
        self._timers.pop("timeout", None)
        self._timeout_reason = f"no connection in {CONNECT_TIMEOUT:g}s"
        if self._attempt is not None:
            self._attempt.cancel()
        else:
            self._fail(self._timeout_reason)

    def _opened(self, protocol: ZaqarClientProtocol) -> None:
        if protocol is not self._protocol:
            return
        if "X-Auth-Token" in self._headers:
            self._authenticate(self._headers)
        else:
            self._became_ready()

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        """Send C{authenticate} with C{headers}' token (never in no-auth mode: Zaqar would crash)."""
        self._authenticating = dict(headers)
        self._tokens.sending(headers["X-Auth-Token"], self._expires_in())
        frame = {"X-Auth-Token": headers["X-Auth-Token"], "X-Project-ID": headers.get("X-Project-ID", "")}
        assert self._protocol is not None
        self._protocol.sendMessage(_frames.request(_frames.AUTHENTICATE, frame), isBinary=False)

    def _expires_in(self) -> float | None:
        """Seconds until the authenticator's token expires, if it says (L{ITokenExpiry}: Keystone does)."""
        told = ITokenExpiry(self._auth, None)
        if told is None:
            return None
        expires_at = told.token_expires_at
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            return None
        return max(expires_at - time.time(), 0.0)

    def _became_ready(self) -> None:
        self._ready = True
        self._may_reconnect_at_once = True
        self._cancel("timeout")
        self._schedule_refresh()
        self._schedule_ping()
        for queue in sorted(self._watched):
            self._subscribe(queue)
        if not self._watched:
            self._delays.reset()
            self._now_up()

    # -- frames ---------------------------------------------------------

    def _send(self, action: str, body: Mapping[str, Any]) -> None:
        headers = {"Client-ID": self._client_id, "X-Project-ID": self._headers.get("X-Project-ID", "")}
        assert self._protocol is not None
        self._protocol.sendMessage(_frames.request(action, headers, body), isBinary=False)

    def _subscribe(self, queue: str) -> None:
        self._creating.add(queue)
        self._send(_frames.SUBSCRIPTION_CREATE, {"queue_name": queue, "ttl": self._ttl})

    def _received(self, protocol: ZaqarClientProtocol, payload: bytes, binary: bool) -> None:
        if protocol is not self._protocol:
            return
        frame = None if binary else _frames.parse(payload)
        if isinstance(frame, _frames.Notification):
            self.notifications += 1
            if frame.queue_name in self._watched:
                self._tell("wake", lambda target: target.wake(frame.queue_name))
        elif isinstance(frame, _frames.Reply) and frame.action == _frames.AUTHENTICATE:
            self._authenticated(frame)
        elif isinstance(frame, _frames.Reply) and frame.action == _frames.SUBSCRIPTION_CREATE:
            self._created(frame)
        else:
            # never the payload itself: a notification carries a message body
            log.debug(
                "WebSocket push ignored a frame it does not understand ({size} bytes, binary={binary})",
                size=len(payload), binary=binary,
            )

    def _authenticated(self, reply: _frames.Reply) -> None:
        used, self._authenticating = self._authenticating, None
        if used is None:
            log.debug("WebSocket push ignored an authenticate reply it did not ask for")
            return
        refresh = self._ready
        if reply.status == 200:
            self._headers = used
            if refresh:
                log.debug("WebSocket push authenticated again with a new token")
                self._schedule_refresh()
            else:
                self._became_ready()
            return
        if reply.status == 401:
            self._auth.invalidate(used)
            self._tokens.forgotten()
        if refresh:
            # the connection stays authenticated until the old token
            # expires; the 4003 then reconnects
            log.warn("WebSocket push could not authenticate again: {error}", error=reply.error())
        else:
            self._fail(f"authentication refused: {reply.error()}")

    def _created(self, reply: _frames.Reply) -> None:
        queue = reply.queue_name
        if queue is None or queue not in self._creating:
            log.debug("WebSocket push ignored a subscription reply it did not ask for")
            return
        self._creating.discard(queue)
        subscription_id = reply.body.get("subscription_id") if isinstance(reply.body, dict) else None
        if reply.status != 201 or not isinstance(subscription_id, str):
            if queue in self._watched:
                self._fail(f"subscription of {queue} refused: {reply.error()}")
            return
        if queue not in self._watched:
            self._send(_frames.SUBSCRIPTION_DELETE, {"queue_name": queue, "subscription_id": subscription_id})
            return
        self._subscriptions[queue] = subscription_id
        self._timers[f"renew {queue}"] = self._reactor.callLater(self._ttl * RENEW_AFTER, self._renew, queue)
        self._delays.reset()
        self._now_up()
        if queue in self._renewing:
            self._renewing.discard(queue)
            self._tell("wake", lambda target: target.wake(queue))
        elif queue not in self._up:
            self._up.add(queue)
            self._tell("push_up", lambda target: target.push_up(queue))

    def _renew(self, queue: str) -> None:
        self._timers.pop(f"renew {queue}", None)
        subscription_id = self._subscriptions.pop(queue, None)
        if not self._ready or subscription_id is None:
            return
        # no update over WebSocket, and a second create for this
        # connection would be a 409: delete, create, then wake once
        self._send(_frames.SUBSCRIPTION_DELETE, {"queue_name": queue, "subscription_id": subscription_id})
        self._renewing.add(queue)
        self._subscribe(queue)

    # -- token refresh (Keystone) -----------------------------------------

    def _schedule_refresh(self) -> None:
        self._cancel("refresh")
        due = self._tokens.refresh_in()
        if due is not None and "X-Auth-Token" in self._headers:
            self._timers["refresh"] = self._reactor.callLater(due, self._refresh)

    def _refresh(self) -> None:
        self._timers.pop("refresh", None)
        protocol = self._protocol
        self._auth.invalidate(self._headers)
        self._tokens.forgotten()

        def send(headers: Mapping[str, str]) -> None:
            if self._protocol is protocol and self._ready and self._authenticating is None:
                self._authenticate(headers)

        def failed(failure: Failure) -> None:
            # the 4003 at expiry reconnects
            log.warn("WebSocket push could not get a new token: {error}", error=failure.getErrorMessage())

        self._auth.headers().addCallbacks(send, failed)

    # -- losing the connection --------------------------------------------

    def _closed(self, protocol: ZaqarClientProtocol, code: int | None, reason: str | None) -> None:
        closed = protocol.factory.on_close
        if closed is not None and not closed.called:
            closed.callback(None)
        if protocol is not self._protocol or self._stopped:
            return
        if code == AUTHENTICATION_EXPIRED:
            lifetime = self._tokens.expired()
            if lifetime is not None:
                log.info("WebSocket push: tokens last about {seconds:.1f}s; "
                         "it will authenticate again before they expire", seconds=lifetime)
            self._auth.invalidate(self._headers)
            self._tokens.forgotten()
            self._fail("authentication expired (4003)", at_once=True)
        elif code is None or code == 1006:
            self._fail("connection lost")
        else:
            self._fail(f"connection closed ({code} {reason or ''})".replace(" )", ")"))

    def _schedule_ping(self) -> None:
        if self._keepalive:
            self._timers["ping"] = self._reactor.callLater(self._keepalive, self._ping)

    def _ping(self) -> None:
        """
        Every C{keepalive} seconds: a connection whose peer is gone without
        a FIN (a NAT or load balancer forgot it) would otherwise look up
        for ever while no notification can come through it.
        """
        if self._protocol is None:
            return
        if self._awaiting_pong:
            self._fail(f"no answer to a ping within {self._keepalive:g}s")
            return
        self._awaiting_pong = True
        self._protocol.sendPing()
        self._schedule_ping()

    def _ponged(self, protocol: ZaqarClientProtocol) -> None:
        if protocol is self._protocol:
            self._awaiting_pong = False

    def _forget_connection(self) -> None:
        """Forget everything about the current connection (not the watched queues)."""
        self._awaiting_pong = False
        if self._attempt is not None:
            attempt, self._attempt = self._attempt, None
            attempt.cancel()
        for name in [name for name in self._timers if name != "reconnect"]:
            self._cancel(name)
        self._protocol = None
        self._ready = False
        self._authenticating = None
        self._subscriptions.clear()
        self._creating.clear()
        self._renewing.clear()

    def _fail(self, reason: str, at_once: bool = False) -> None:
        """Drop the connection, report the queues that were up as down, and reconnect later."""
        protocol = self._protocol
        self._forget_connection()
        if protocol is not None:
            protocol.dropConnection(abort=True)
        was_up = sorted(self._up)
        self._up.clear()
        for queue in was_up:
            def down(target: IWakeTarget, queue: str = queue) -> None:
                target.push_down(queue, reason)
            self._tell("push_down", down)
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

    def _now_up(self) -> None:
        if self.state == "up":
            return
        self.state = "up"
        if self._down_since is not None:
            log.info("WebSocket push up again after {seconds:.1f}s",
                     seconds=self._reactor.seconds() - self._down_since)
            self._down_since = None
        else:
            log.info("WebSocket push up")

    # -- helpers ------------------------------------------------------------

    def _cancel(self, name: str) -> None:
        call = self._timers.pop(name, None)
        if call is not None and call.active():
            call.cancel()

    def _tell(self, method: str, call: Callable[[IWakeTarget], object]) -> None:
        tell(self._target, log, method, call)
