"""
The delay before a push source reconnects: exponential, capped, jittered
(the policy is L{txzaqar._support.backoff.Backoff}; this keeps the count).
"""

from __future__ import annotations

from collections.abc import Callable

from .._support.backoff import Backoff, shortened


class ReconnectDelay:
    """
    Delays that double from C{minimum} up to C{maximum}, each shortened by
    up to a quarter by C{jitter()} so that many clients cut off at once do
    not all come back at the same moment.

    @param minimum: the first delay, in seconds.
    @param maximum: the cap, in seconds.
    @param jitter: a function returning a float in M{[0, 1)}
        (C{random.random}).
    """

    def __init__(self, minimum: float, maximum: float, jitter: Callable[[], float]) -> None:
        self._policy = Backoff(minimum, maximum, jitter=shortened(jitter))
        self._failures = 0

    def next(self) -> float:
        """
        @return: the delay before the next attempt (seconds); each call
            doubles the base delay until it reaches the cap.
        """
        delay = self._policy(self._failures)
        self._failures += 1
        return delay

    def reset(self) -> None:
        """Start again from the minimum (after a success)."""
        self._failures = 0
