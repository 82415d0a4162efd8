"""
Zaqar's WebSocket notifications as wake-ups: L{WebSocketPush}.

One WebSocket connection to Zaqar's WebSocket transport carries one
C{subscription_create} per watched queue; Zaqar then forwards a
notification frame for every message posted to such a queue.  A
notification has no message id, so it only wakes the target up.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from .._support import validation as _validation
from ..errors import ClientValidationError
from ..interfaces import IAuthenticator, IWakeSource, IWakeTarget
from . import _frames
from ._protocol import check_url
from ._refresher import TokenRefresher
from ._subscriptions import RENEW_AFTER, Subscriptions
from ._supervisor import AUTHENTICATION_EXPIRED, CLOSE_WAIT, CONNECT_TIMEOUT, Supervisor
from ._target import tell
from .backoff import ReconnectDelay

__all__ = ["AUTHENTICATION_EXPIRED", "CLOSE_WAIT", "CONNECT_TIMEOUT", "RENEW_AFTER", "WebSocketPush"]

#: The push sources' logger (namespace C{txzaqar.push}).
log = Logger(namespace="txzaqar.push")


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
        least 60; default a day); they are renewed before they end.  Zaqar
        deletes a connection's subscriptions when it closes, so the ttl
        only bounds those of a connection lost without a close; each
        renewal costs a deletion, a creation and a claim, so a long one
        keeps many queues' idle requests low.
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
        subscription_ttl: int = 86400,
        min_reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 30.0,
        jitter: Callable[[], float] = random.random,
        keepalive: float = 30.0,
    ) -> None:
        if not callable(url):
            check_url(url)
        ttl = _validation.integer(
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
        self._client_id = str(client_id)
        self._target: IWakeTarget | None = None
        #: Notification frames received (for watched queues or not).
        self.notifications = 0
        #: Requests sent to Zaqar on the WebSocket (C{authenticate}, subscription creations
        #: and renewals): they do not go through the client's HTTP connection.
        self.requests_sent = 0
        self._connection = Supervisor(
            url, authenticator, reactor, tls, ReconnectDelay(low, high, jitter), _delay("keepalive", keepalive),
            opened=self._opened, received=self._received, expired=self._expired,
            forget=self._forget, down=self._down,
        )
        self._tokens = TokenRefresher(authenticator, reactor, self._send_frame, self._became_ready,
                                      self._connection.fail)
        self._subscriptions = Subscriptions(
            reactor, ttl, self._send, self._connection.up, self._connection.fail,
            wake=lambda queue: self._tell("wake", lambda target: target.wake(queue)),
            push_up=lambda queue: self._tell("push_up", lambda target: target.push_up(queue)),
            push_down=self._push_down,
        )

    def __repr__(self) -> str:
        return f"<WebSocketPush state={self.state} queues_up={len(self.queues_up)}>"

    @property
    def state(self) -> str:
        """
        C{"stopped"} (before L{start}, after L{stop}), C{"connecting"},
        C{"up"} (connected, and a subscription was created) or C{"down"}
        (waiting to reconnect).
        """
        return self._connection.state

    @property
    def reconnects(self) -> int:
        """Connections opened after the first one (retries and reconnects)."""
        return self._connection.reconnects

    @property
    def queues_up(self) -> frozenset[str]:
        """The queues whose notifications flow now (reported with C{push_up})."""
        return self._subscriptions.queues_up

    # -- IWakeSource --------------------------------------------------

    def start(self, target: IWakeTarget) -> Deferred[None]:
        """Only begins connecting, so the Deferred fires at once."""
        self._target = target
        self._connection.start()
        return succeed(None)

    def watch(self, queue_name: str) -> None:
        _validation.queue_name(queue_name)
        self._subscriptions.watch(queue_name)

    def unwatch(self, queue_name: str) -> Deferred[None]:
        """The Deferred fires at once."""
        self._subscriptions.unwatch(queue_name)
        return succeed(None)

    def stop(self) -> Deferred[None]:
        """
        Cancels timers and any connection attempt, then closes the connection
        (Zaqar then deletes its subscriptions), waiting at most C{CLOSE_WAIT}
        seconds for the close handshake before dropping it.
        """
        closed = self._connection.stop()
        self._subscriptions.stopped()
        return closed

    # -- what the parts tell each other -------------------------------------

    def _opened(self, headers: dict[str, str]) -> None:
        self._tokens.opened(headers)

    def _became_ready(self) -> None:
        self._connection.ready()
        self._tokens.schedule()
        self._connection.start_pings()
        self._subscriptions.connected()

    def _send(self, action: str, body: Mapping[str, Any]) -> None:
        headers = {"Client-ID": self._client_id, "X-Project-ID": self._tokens.headers.get("X-Project-ID", "")}
        self._send_frame(_frames.request(action, headers, body))

    def _send_frame(self, frame: bytes) -> None:
        self.requests_sent += 1
        self._connection.send(frame)

    def _received(self, payload: bytes, binary: bool) -> None:
        frame = None if binary else _frames.parse(payload)
        if isinstance(frame, _frames.Notification):
            self.notifications += 1
            if self._subscriptions.watches(frame.queue_name):
                self._tell("wake", lambda target: target.wake(frame.queue_name))
        elif isinstance(frame, _frames.Reply) and frame.action == _frames.AUTHENTICATE:
            self._tokens.authenticated(frame)
        elif isinstance(frame, _frames.Reply) and frame.action == _frames.SUBSCRIPTION_CREATE:
            self._subscriptions.created(frame)
        else:
            # never the payload itself: a notification carries a message body
            log.debug(
                "WebSocket push ignored a frame it does not understand ({size} bytes, binary={binary})",
                size=len(payload), binary=binary,
            )

    def _expired(self) -> None:
        self._tokens.expired()

    def _forget(self) -> None:
        self._tokens.forget()
        self._subscriptions.forget()

    def _down(self, reason: str) -> None:
        self._subscriptions.down(reason)

    def _push_down(self, queue: str, reason: str) -> None:
        self._tell("push_down", lambda target: target.push_down(queue, reason))

    def _tell(self, method: str, call: Callable[[IWakeTarget], object]) -> None:
        tell(self._target, log, method, call)
