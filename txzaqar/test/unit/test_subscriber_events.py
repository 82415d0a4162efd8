"""
L{txzaqar.subscriber.events}: the Subscriber's per-queue counts and the events it emits.
"""

from __future__ import annotations

from collections import Counter

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.subscriber import STATS
from txzaqar.subscriber.events import QueueCounts, new_stats


class QueueCountsTests(SynchronousTestCase):
    def test_mirrors_totals(self) -> None:
        """What is added to a queue's counter is added to the totals too."""
        totals = new_stats()
        a, b = QueueCounts(totals), QueueCounts(totals)
        self.assertEqual(dict(a), {name: 0 for name in STATS})
        a["claimed"] += 3
        b["claimed"] += 2
        a["acked"] += 3
        self.assertEqual((a["claimed"], b["claimed"], totals["claimed"]), (3, 2, 5))
        self.assertEqual(totals["acked"], 3)
        self.assertEqual(b["acked"], 0)
        copy = a.copy()
        copy["acked"] += 1
        self.assertEqual((type(copy), a["acked"], totals["acked"]), (Counter, 3, 3))
