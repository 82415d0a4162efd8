"""
When a Keystone token expires: told by the authenticator when it can
(L{txzaqar.auth.Keystone.token_expires_at}), else learned from Zaqar's
"Authentication expired." closes; so that a WebSocket connection can
authenticate again before its token expires.
"""

from __future__ import annotations

from typing import Any

#: Once a token's lifetime is known, authenticate again with a new token
#: when this share of the lifetime has passed.
REFRESH_AFTER = 0.75


class TokenLifetime:
    """
    Zaqar closes a WebSocket connection (4003) when the token it was
    authenticated with expires, and resets that timer on every
    C{authenticate}; nothing tells a client how long its token lives.  A
    token fetched right after the client forgot the previous one is fresh:
    the time from its first use to its 4003 is (a little under) the
    lifetime of tokens.

    @param clock: an C{IReactorTime}.
    """

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        #: Seconds tokens last, once learned (C{None} until then).
        self.lifetime: float | None = None
        self._sent: int | None = None
        self._sent_at: float | None = None
        self._fresh = False
        self._forgotten = False
        self._expires: float | None = None  # on the clock, when told

    def forgotten(self) -> None:
        """The client invalidated its token: the next one will be fresh."""
        self._forgotten = True

    def sending(self, token: str, expires_in: float | None = None) -> None:
        """
        C{token} is about to be sent in an C{authenticate} frame.

        @param expires_in: seconds until it expires, when the
            authenticator says.
        """
        key = hash(token)  # not a second copy of the token
        if key != self._sent:
            now = self._clock.seconds()
            self._sent = key
            self._sent_at = now
            self._fresh = self._forgotten
            self._expires = now + expires_in if expires_in is not None else None
        self._forgotten = False

    def expired(self) -> float | None:
        """
        Zaqar said the token sent last expired.

        @return: the lifetime learned from it, or C{None} (the token was
            not fresh: it may have been fetched long before it was sent).
        """
        if self._fresh and self._sent_at is not None:
            lifetime = self._clock.seconds() - self._sent_at
            if lifetime > 0:
                self.lifetime = lifetime
                return lifetime
        return None

    def refresh_in(self) -> float | None:
        """@return: seconds until a new token should be sent, or C{None} (lifetime unknown)."""
        if self._expires is not None and self._sent_at is not None:
            return max((self._expires - self._sent_at) * REFRESH_AFTER - (self._clock.seconds() - self._sent_at),
                       0.0)
        if self.lifetime is None or self._sent_at is None:
            return None
        return max(self._sent_at + self.lifetime * REFRESH_AFTER - self._clock.seconds(), 0.0)
