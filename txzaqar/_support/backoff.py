"""
The one backoff policy: how long to wait before attempt C{n} after failures.

L{Backoff} has the shape of Twisted's
C{twisted.application.internet.backoffPolicy}: a callable from the attempt
number (0 for the first retry) to a delay in seconds, made from an initial
delay, a cap, a growth factor and a jitter.  The jitter is a function of
the delay (not a number added to it), so that each user keeps its own
spread:

  - L{shortened}: up to a quarter shorter (the Subscriber's poll loop, the
    WebSocket's reconnects), so that many clients cut off at once do not
    all come back at the same moment, and the cap stays a cap;
  - L{scaled}: times a random 0.5 to 1.5 (the HTTP retries);
  - L{added}: plus a random 0 to 1 second (Twisted's own jitter; the
    webhook's renewals).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attr

__all__ = ["MAX_EXPONENT", "Backoff", "Jitter", "added", "no_jitter", "scaled", "shortened"]

#: What spreads a delay: C{jitter(delay)} returns the delay to wait.
Jitter = Callable[[float], float]

#: The largest power the factor is raised to: further attempts wait as
#: long as attempt C{MAX_EXPONENT} (long since at the cap), and the power
#: cannot overflow however many attempts there were.
MAX_EXPONENT = 64


def no_jitter(delay: float) -> float:
    """The delay unchanged."""
    return delay


def shortened(random: Callable[[], float], by: float = 0.25) -> Jitter:
    """
    A jitter that shortens a delay by up to C{by} of it: C{delay * (1 - by * r)}.

    @param random: returns a float in M{[0, 1)} (C{random.random}); a value
        outside M{[0, 1]} is taken as the nearest bound.
    """
    def jitter(delay: float) -> float:
        return delay * (1 - by * min(max(random(), 0.0), 1.0))

    return jitter


def scaled(random: Callable[[], float], low: float = 0.5) -> Jitter:
    """
    A jitter that multiplies a delay by C{low} plus C{random()}: by 0.5 to
    1.5 with the default C{low} and C{random.random}.
    """
    def jitter(delay: float) -> float:
        return delay * (low + random())

    return jitter


def added(random: Callable[[], float]) -> Jitter:
    """
    A jitter that adds C{random()} seconds to a delay (what Twisted's
    C{backoffPolicy} does with its C{jitter}).
    """
    def jitter(delay: float) -> float:
        return delay + random()

    return jitter


@attr.s(frozen=True, auto_attribs=True)
class Backoff:
    """
    Delays that grow by C{factor} from C{initial} up to C{maximum}, then
    spread by C{jitter}: C{backoff(n)} is
    C{jitter(min(initial * factor ** min(n, MAX_EXPONENT), maximum))}.

    Call it with the number of failures so far (0 before the first retry);
    it keeps no count of its own.
    """

    #: The delay before the first retry (attempt 0), in seconds.
    initial: float
    #: The cap on the delay before jitter, in seconds (no cap: C{math.inf}).
    maximum: float = math.inf
    #: What each further attempt multiplies the delay by.
    factor: float = 2
    #: What spreads each delay (L{no_jitter}, L{shortened}, L{scaled}, L{added}).
    jitter: Jitter = no_jitter

    def __call__(self, attempt: int) -> float:
        """
        @param attempt: failures so far (0 for the first retry).
        @return: the delay in seconds before that attempt.
        """
        base = self.initial * self.factor ** min(attempt, MAX_EXPONENT)
        return self.jitter(min(base, self.maximum))
