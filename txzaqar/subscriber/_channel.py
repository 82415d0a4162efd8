"""
One subscribed queue of a L{txzaqar.subscriber.Subscriber} (L{_Channel}),
and how a run of its callback ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, TimeoutError
from twisted.python.failure import Failure

from ..interfaces import IQueue
from .events import NotProcessed, QueueCounts, log
from .polling import QueuePoller
from .push import QueuePush
from .settlement import QueueSettlement
from .slots import Slots


class _Channel:
    """One subscribed queue: its callback, poll loop and claims in progress."""

    def __init__(self, queue: IQueue, callback: Callable[[Any], Any], plain: bool,
                 configure: dict[str, Any] | None, settlement: QueueSettlement) -> None:
        self.queue = queue
        self.name: str = queue.name
        self.callback = callback
        #: a plain callback (not async, not marked on_reactor): runs in a thread when there are threads
        self.plain = plain
        #: queue settings to apply before the first claim (dead-lettering)
        self.configure = configure
        self.settlement = settlement
        #: set right after: it claims through this channel
        self.poller: QueuePoller
        #: this queue's counters (see L{Subscriber.queue_stats})
        self.stats: QueueCounts
        #: its push state
        self.push: QueuePush
        #: the slots its claims and callbacks take: the Subscriber's, or its own (C{concurrency=})
        self.slots: Slots


def _after_earlier_run(queue: str, message: Any, earlier: Deferred[None]) -> Deferred[Any]:
    """
    C{message} was claimed again while its callback still runs (its
    earlier claim ran out: renewing it failed): it is not run twice at
    once.

    @return: a Deferred failing with L{NotProcessed} once that run is over
        (its claim is then released; by then a success of that run is
        being deleted).
    """
    log.warn("{message_id} on {queue} was claimed again while its callback still runs (its earlier "
             "claim ran out): not started twice; handed back once that run is over",
             message_id=message.id, queue=queue)
    handed_back: Deferred[Any] = Deferred()
    earlier.addCallback(lambda _: handed_back.errback(NotProcessed(
        f"{message.id} was still being processed under an earlier claim")))
    return handed_back


def callback_outcome(failure: Failure | None) -> str:
    """How a callback finished, as L{ISubscriberObserver.callback_finished} says it."""
    if failure is None:
        return "ok"
    if failure.check(NotProcessed):
        return "unprocessed"
    if failure.check(TimeoutError):
        return "timeout"
    return "failed"
