"""
L{txzaqar._support.backoff}: the one backoff policy and its jitters.
"""

from __future__ import annotations

import math
import random

from twisted.application.internet import backoffPolicy
from twisted.trial.unittest import SynchronousTestCase

from txzaqar._support.backoff import MAX_EXPONENT, Backoff, added, no_jitter, scaled, shortened


class BackoffTests(SynchronousTestCase):
    def test_grows_by_the_factor_to_the_cap(self) -> None:
        """Attempt C{n} waits C{initial * factor ** n}, at most C{maximum}."""
        policy = Backoff(0.5, 3.0)
        self.assertEqual([policy(n) for n in range(5)], [0.5, 1.0, 2.0, 3.0, 3.0])
        self.assertEqual([Backoff(1.0, 100.0, factor=3)(n) for n in range(4)], [1.0, 3.0, 9.0, 27.0])

    def test_no_cap(self) -> None:
        """Without a C{maximum} the delay keeps growing."""
        self.assertEqual([Backoff(0.1)(n) for n in range(4)], [0.1, 0.2, 0.4, 0.8])

    def test_keeps_no_count(self) -> None:
        """The same attempt gives the same delay: the caller counts."""
        policy = Backoff(1.0, 8.0)
        self.assertEqual((policy(2), policy(2)), (4.0, 4.0))

    def test_many_attempts_do_not_overflow(self) -> None:
        """The power stops at L{MAX_EXPONENT}: any attempt number gives a delay."""
        self.assertEqual(Backoff(1.0, 30.0)(10 ** 6), 30.0)
        self.assertEqual(Backoff(1.0)(10 ** 6), 2.0 ** MAX_EXPONENT)

    def test_jitter_is_applied_after_the_cap(self) -> None:
        """The jitter gets the capped delay: a shortening jitter keeps the cap a cap."""
        seen: list[float] = []

        def jitter(delay: float) -> float:
            seen.append(delay)
            return delay / 2

        policy = Backoff(1.0, 4.0, jitter=jitter)
        self.assertEqual([policy(n) for n in range(4)], [0.5, 1.0, 2.0, 2.0])
        self.assertEqual(seen, [1.0, 2.0, 4.0, 4.0])

    def test_sequence_with_fixed_jitter(self) -> None:
        """The sequence of delays of each jitter, with a fixed random value."""
        half = lambda: 0.5  # noqa: E731
        self.assertEqual([Backoff(1.0, 8.0, jitter=shortened(half))(n) for n in range(5)],
                         [0.875, 1.75, 3.5, 7.0, 7.0])
        self.assertEqual([Backoff(0.1, jitter=scaled(lambda: 0.25))(n) for n in range(3)],
                         [0.1 * 0.75, 0.2 * 0.75, 0.4 * 0.75])
        self.assertEqual([Backoff(1.0, 4.0, jitter=added(half))(n) for n in range(4)],
                         [1.5, 2.5, 4.5, 4.5])
        self.assertEqual([Backoff(1.0, 4.0, jitter=no_jitter)(n) for n in range(4)], [1.0, 2.0, 4.0, 4.0])

    def test_same_as_twisted_backoff_policy(self) -> None:
        """With L{added}, the delays are those of Twisted's C{backoffPolicy}."""
        ours_random, theirs_random = random.Random(7), random.Random(7)
        ours = Backoff(1.0, 60.0, 2.0, jitter=added(ours_random.random))
        theirs = backoffPolicy(initialDelay=1.0, maxDelay=60.0, factor=2.0, jitter=theirs_random.random)
        attempts = [*range(12), 200, 5000]
        self.assertEqual([ours(n) for n in attempts], [theirs(n) for n in attempts])


class JitterTests(SynchronousTestCase):
    def test_shortened_by_up_to_a_quarter(self) -> None:
        """L{shortened}: C{delay * (1 - 0.25 * r)}, C{r} held to M{[0, 1]}."""
        values = iter([0.0, 0.5, 1.0, 7.0, -3.0])
        jitter = shortened(lambda: next(values))
        self.assertEqual([jitter(4.0) for _ in range(5)], [4.0, 3.5, 3.0, 3.0, 4.0])

    def test_shortened_by(self) -> None:
        """L{shortened} with C{by}: up to that fraction shorter."""
        self.assertEqual(shortened(lambda: 1.0, by=0.5)(4.0), 2.0)

    def test_scaled(self) -> None:
        """L{scaled}: times C{low + r}, 0.5 to 1.5 by default."""
        values = iter([0.0, 0.5, 0.999])
        jitter = scaled(lambda: next(values))
        self.assertEqual([jitter(2.0) for _ in range(3)], [1.0, 2.0, 2.0 * 1.499])
        self.assertEqual(scaled(lambda: 0.0, low=1.0)(2.0), 2.0)

    def test_added(self) -> None:
        """L{added}: plus C{r} seconds."""
        self.assertEqual(added(lambda: 0.25)(2.0), 2.25)

    def test_no_jitter(self) -> None:
        """L{no_jitter}: the delay as it is."""
        self.assertEqual(no_jitter(2.5), 2.5)
        self.assertEqual(Backoff(1.0).jitter, no_jitter)
        self.assertEqual(Backoff(1.0).maximum, math.inf)
