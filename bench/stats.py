"""
The summary's statistics: nearest-rank percentiles and medians.

Only the standard library is used here (the orchestrator's side).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def nearest_rank(values: Sequence[float], q: float) -> float:
    """
    The C{q} percentile of C{values} by the nearest-rank method: the
    smallest value such that at least C{q} % of C{values} are at or below
    it, i.e. the C{ceil(q / 100 * n)}-th smallest (the smallest value for
    C{q = 0}).

    @param q: The percentile, from 0 to 100.
    @return: That value; C{nan} when C{values} is empty.
    @raise ValueError: If C{q} is outside 0-100.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q!r} is outside 0-100")
    if not values:
        return float("nan")
    ordered = sorted(values)
    # round away the float error of q / 100 * n (0.29 * 100 is 28.999999999999996)
    rank = math.ceil(round(q * len(ordered) / 100, 9))
    return ordered[max(rank, 1) - 1]


def median(values: Sequence[float]) -> float | None:
    """The median of C{values} (the mean of the middle two for an even count); C{None} when empty."""
    return statistics.median(values) if values else None
