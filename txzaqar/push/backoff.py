"""
The delay before a push source reconnects: exponential, capped, jittered.
"""

from __future__ import annotations

from collections.abc import Callable


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
        self._minimum = minimum
        self._maximum = maximum
        self._jitter = jitter
        self._failures = 0

    def next(self) -> float:
        """
        @return: the delay before the next attempt (seconds); each call
            doubles the base delay until it reaches the cap.
        """
        # min() before the power would overflow after ~1000 failures
        base = self._minimum * 2 ** min(self._failures, 64)
        self._failures += 1
        base = min(base, self._maximum)
        shortened = min(max(self._jitter(), 0.0), 1.0) / 4
        return base * (1.0 - shortened)

    def reset(self) -> None:
        """Start again from the minimum (after a success)."""
        self._failures = 0
