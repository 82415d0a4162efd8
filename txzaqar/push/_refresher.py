"""
Keeping a WebSocket connection's Keystone token fresh: L{TokenRefresher}
sends C{authenticate}, reads its replies, and authenticates again with a
new token before the old one expires (Zaqar resets its expiry timer on
every C{authenticate}).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..interfaces import IAuthenticator, ITokenExpiry
from . import _frames
from ._tokens import TokenLifetime

#: The push sources' logger (namespace C{txzaqar.push}).
log = Logger(namespace="txzaqar.push")


class TokenRefresher:
    """
    The token side of one WebSocket connection after another.

    With a token (the headers have C{X-Auth-Token}) a new connection is
    ready once Zaqar accepts its C{authenticate}; without one (no-auth
    mode) it is ready at once, and nothing is sent (Zaqar would crash).

    @param authenticator: gives, and invalidates, the headers.
    @param clock: an C{IReactorTime}.
    @param send: sends a text frame on the current connection.
    @param ready: called once per connection when it is ready.
    @param refused: called with the reason when the first C{authenticate}
        of a connection is refused (the owner then fails it).
    """

    def __init__(
        self,
        authenticator: IAuthenticator,
        clock: Any,
        send: Callable[[bytes], None],
        ready: Callable[[], None],
        refused: Callable[[str], None],
    ) -> None:
        self._auth = authenticator
        self._clock = clock
        self._send = send
        self._ready_callback = ready
        self._refused = refused
        self._tokens = TokenLifetime(clock)
        #: The headers the current connection uses (C{X-Project-ID},
        #: maybe C{X-Auth-Token}).
        self.headers: dict[str, str] = {}
        self._ready = False
        self._authenticating: dict[str, str] | None = None
        self._timer: IDelayedCall | None = None
        self._connection = 0  # which connection, so a late token goes nowhere

    def opened(self, headers: Mapping[str, str]) -> None:
        """A new connection's handshake is done: authenticate it with C{headers}, or call it ready."""
        self.headers = dict(headers)
        if "X-Auth-Token" in self.headers:
            self._authenticate(self.headers)
        else:
            self._became_ready()

    def schedule(self) -> None:
        """Plan the next C{authenticate} with a new token, if it is known when the token expires."""
        self._cancel()
        due = self._tokens.refresh_in()
        if due is not None and "X-Auth-Token" in self.headers:
            self._timer = self._clock.callLater(due, self._refresh)

    def authenticated(self, reply: _frames.Reply) -> None:
        """Zaqar's reply to an C{authenticate}."""
        used, self._authenticating = self._authenticating, None
        if used is None:
            log.debug("WebSocket push ignored an authenticate reply it did not ask for")
            return
        refresh = self._ready
        if reply.status == 200:
            self.headers = used
            if refresh:
                log.debug("WebSocket push authenticated again with a new token")
                self.schedule()
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
            self._refused(f"authentication refused: {reply.error()}")

    def expired(self) -> None:
        """Zaqar closed the connection because its token expired (4003): learn, and forget the token."""
        lifetime = self._tokens.expired()
        if lifetime is not None:
            log.info("WebSocket push: tokens last about {seconds:.1f}s; "
                     "it will authenticate again before they expire", seconds=lifetime)
        self._auth.invalidate(self.headers)
        self._tokens.forgotten()

    def forget(self) -> None:
        """The connection is gone: no refresh, no reply awaited."""
        self._cancel()
        self._connection += 1
        self._ready = False
        self._authenticating = None

    # -- internals ----------------------------------------------------------

    def _became_ready(self) -> None:
        self._ready = True
        self._ready_callback()

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        """Send C{authenticate} with C{headers}' token."""
        self._authenticating = dict(headers)
        self._tokens.sending(headers["X-Auth-Token"], self._expires_in())
        frame = {"X-Auth-Token": headers["X-Auth-Token"], "X-Project-ID": headers.get("X-Project-ID", "")}
        self._send(_frames.request(_frames.AUTHENTICATE, frame))

    def _expires_in(self) -> float | None:
        """Seconds until the authenticator's token expires, if it says (L{ITokenExpiry}: Keystone does)."""
        told = ITokenExpiry(self._auth, None)
        if told is None:
            return None
        expires_at = told.token_expires_at
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            return None
        return max(expires_at - time.time(), 0.0)

    def _refresh(self) -> None:
        self._timer = None
        connection = self._connection
        self._auth.invalidate(self.headers)
        self._tokens.forgotten()

        def send(headers: Mapping[str, str]) -> None:
            if self._connection == connection and self._ready and self._authenticating is None:
                self._authenticate(headers)

        def failed(failure: Failure) -> None:
            # the 4003 at expiry reconnects
            log.warn("WebSocket push could not get a new token: {error}", error=failure.getErrorMessage())

        self._auth.headers().addCallbacks(send, failed)

    def _cancel(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
