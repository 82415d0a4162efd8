"""
What a L{txzaqar.subscriber.Subscriber} reports: its log, its counters, and
L{NotProcessed}, the outcome of a message handed back unprocessed.
"""

from __future__ import annotations

from collections import Counter

from twisted.logger import Logger

#: Every event of the subscriber, whichever of its modules logs it, is in
#: this one namespace (C{txzaqar.subscriber}), as it was when it was one module.
log = Logger(namespace="txzaqar.subscriber")

#: The counters of L{Subscriber.stats}, all present from the start.
STATS = (
    "polls",            # claim requests that answered
    "empty_polls",      # ... with nothing to claim
    "poll_errors",      # claim (or configure) requests that failed
    "claimed",          # messages claimed
    "processed",        # callbacks that succeeded
    "failed",           # callbacks that failed (including timeouts)
    "timed_out",        # callbacks that ran past callback_timeout
    "acked",            # messages deleted after success
    "ack_failed",       # deletes that failed (the message comes back)
    "renewed",          # claim renewals
    "renew_failed",
    "released",         # messages given back by releasing their claim
    "release_failed",
    "left_to_expire",   # failed again: their claim is left to run out
    "notifications",    # wake-ups received (push notifications, or wake() calls)
    "wakeups",          # ... that made a claim come sooner (the others were coalesced)
    "push_fallbacks",   # push went down for the queue: back to polling as usual
    "push_reconnects",  # push came back up after being down
    "push_missed",      # safety polls that found messages no notification had announced
)


def new_stats() -> Counter[str]:
    """A C{Counter} with every name of L{STATS} at zero."""
    return Counter({name: 0 for name in STATS})


class QueueCounts(Counter[str]):
    """
    The counters of L{STATS} for one queue, starting at zero; whatever is
    added to one of them is added to the same counter of C{totals} (the
    subscriber's L{Subscriber.stats}) too, so each event is counted once,
    where it happens, and both views agree.

    @param totals: the counters over every queue.
    """

    def __init__(self, totals: Counter[str]) -> None:
        self._totals = totals
        super().__init__()
        for name in STATS:
            super().__setitem__(name, 0)

    def __setitem__(self, name: str, value: int) -> None:
        self._totals[name] += value - self[name]
        super().__setitem__(name, value)

    def copy(self) -> Counter[str]:  # type: ignore[override]
        """A plain C{Counter} of the same counts, not linked to the totals."""
        # Counter.copy() would call QueueCounts(self): an empty copy adding to this one
        return Counter(dict(self))


class NotProcessed(Exception):
    """
    A message was handed back without being processed (a L{listen}
    iterator was closed, or the subscriber stopped before it was taken).
    Its claim is released; this is not a callback failure.
    """
