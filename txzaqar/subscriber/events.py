"""
What a L{txzaqar.subscriber.Subscriber} reports: its log, its counters, and
L{NotProcessed}, the outcome of a message handed back unprocessed.
"""

from __future__ import annotations

from collections import Counter
from enum import Enum

from twisted.internet.defer import TimeoutError
from twisted.logger import Logger
from twisted.python.failure import Failure

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
    "failed",           # callbacks that failed (including timeouts, but a thread that succeeded late)
    "timed_out",        # callbacks that ran past callback_timeout (counted as processed or failed too)
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
    iterator was closed, the subscriber stopped before it was taken, or
    it was claimed again while its callback still ran under an earlier
    claim that ran out).
    Its claim is released; this is not a callback failure.
    """


class TimedOutHow(Enum):
    """How a callback that ran past C{callback_timeout} ended."""

    #: on the reactor thread: its Deferred was cancelled at the deadline
    CANCELLED = "cancelled"
    #: it was still waiting for a thread: it never runs
    NEVER_STARTED = "never started"
    #: its thread (which cannot be interrupted) returned after the deadline
    RETURNED = "returned"


#: The one line logged (warn) for a callback past C{callback_timeout}; its
#: fields: C{queue}, C{message_id}, C{timeout}, C{seconds} (how long the
#: callback ran, or waited for a thread), C{how} (a L{TimedOutHow} value)
#: and C{what} (the rest of the sentence).
CALLBACK_TIMEOUT_WARNING = (
    "callback for {message_id} on {queue} ran past callback_timeout ({timeout:g}s): {what}"
)


class CallbackTimedOut(TimeoutError):
    """
    A callback ran past C{callback_timeout}: the outcome its message's
    settlement receives instead of the callback's own (never logged with
    a traceback: L{describe} is its one line).
    """

    def __init__(self, timeout: float, seconds: float, how: TimedOutHow,
                 error: Failure | None = None) -> None:
        super().__init__(timeout, how.value)
        #: The C{callback_timeout}, in seconds.
        self.timeout = timeout
        #: How long the callback ran: up to the deadline when it was cancelled, from its
        #: thread's start to its return when its thread returned late; how long it waited
        #: for a thread when it never started.
        self.seconds = seconds
        #: A L{TimedOutHow}.
        self.how = how
        #: When C{how} is C{RETURNED}: the thread's failure, or C{None} when the callback
        #: succeeded (late).
        self.error = error

    @property
    def succeeded_late(self) -> bool:
        """Whether the callback's thread returned after the deadline with a success."""
        return self.how is TimedOutHow.RETURNED and self.error is None

    def describe(self) -> str:
        """What happened and what becomes of the message, for L{CALLBACK_TIMEOUT_WARNING}."""
        if self.how is TimedOutHow.CANCELLED:
            return f"cancelled after {self.seconds:.1f}s; the message goes back to the queue"
        if self.how is TimedOutHow.NEVER_STARTED:
            return (f"never started (waited {self.seconds:.1f}s for a free thread); "
                    "the message goes back to the queue")
        if self.error is None:
            return (f"its thread ran {self.seconds:.1f}s and succeeded late; the message was kept "
                    "claimed until then and is deleted")
        e = self.error.value
        text = " ".join(str(e).split())  # one line
        error = type(e).__name__ + (f": {text[:200]}" if text else "")
        return (f"its thread ran {self.seconds:.1f}s and then failed ({error}); "
                "the message was kept claimed until then and goes back to the queue")

    def __str__(self) -> str:
        return f"callback_timeout ({self.timeout:g}s): {self.describe()}"
