"""
Push, as the Subscriber sees it: the state of each queue's notifications,
and what follows from it.

A push source (an L{IWakeSource}: Zaqar's WebSocket notifications, its
webhooks) says per queue when notifications flow (C{push_up}) and when
they may be lost (C{push_down}), and sends wake-ups.  A notification has
no message id, so it is never a delivery: it makes the queue's poll loop
claim at once (L{QueuePoller.wake}), and claiming, acknowledging and
releasing stay what they are.  While push is up for a queue its idle
polling slows to C{safety_interval}; while it is down the queue is
polled as usual.  Either change wakes the queue once, since a message may
have come while nothing announced it.

A notification only announces a post.  Messages that become claimable
otherwise are claimed as follows: a released claim (a failed callback)
wakes the queue at once, and a claim left to expire wakes it when it has
expired; a message posted with a C{delay} is announced when posted, so
the safety poll finds it after its delay (post delayed messages to a
queue polled as usual, or lower C{safety_interval}).

A source can be up and still never deliver: a Zaqar without the notifier
pipeline (C{[storage] message_pipeline = zaqar.notification.notifier})
accepts subscriptions and sends nothing.  So when a safety poll (one
after a safety wait that no wake-up cut short) claims messages that no
notification announced, the queue is polled as usual again until a
notification for it arrives, and the first time this happens is logged
once as a warning.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from .events import log
from .polling import QueuePoller


class PushState(enum.Enum):
    """Where a queue's push notifications stand."""

    #: The subscriber has no push source.
    OFF = "off"
    #: Not (yet) subscribed for notifications, or they may be lost: polled as usual.
    DOWN = "down"
    #: Notifications flow: idle polling slows to the safety interval.
    UP = "up"
    #: Up, but a safety poll found messages no notification announced: polled as usual
    #: until a notification arrives.
    UNVERIFIED = "unverified"


class QueuePush:
    """
    The push state of one queue, and the poller it steers.

    @param name: the queue name.
    @param poller: the queue's L{QueuePoller}.
    @param stats: the queue's counters.
    @param enabled: whether the subscriber has a push source.
    @param clock: for the wake-up when a claim left to expire has expired.
    """

    def __init__(self, name: str, poller: QueuePoller, stats: Any, enabled: bool,
                 clock: IReactorTime) -> None:
        #: The queue name.
        self.name = name
        self._clock = clock
        self._expiries: set[IDelayedCall] = set()
        self._poller = poller
        self._stats = stats
        #: The queue's L{PushState}.
        self.state = PushState.DOWN if enabled else PushState.OFF
        self._announced = False  # a notification came since the last claim began
        self._ever_up = False

    def _steer(self, state: PushState) -> None:
        self.state = state
        self._poller.push_up = state is PushState.UP
        self._poller.wake()

    def up(self) -> None:
        """The source says notifications flow: slow down idle polling, claim once now."""
        if self.state is PushState.UP or self.state is PushState.OFF:
            return
        if self._ever_up and self.state is PushState.DOWN:
            self._stats["push_reconnects"] += 1
        self._ever_up = True
        log.debug("push is up for {queue}", queue=self.name)
        self._steer(PushState.UP)

    def down(self, reason: str) -> None:
        """The source says notifications may be lost: poll as usual, claim once now."""
        if self.state is PushState.DOWN or self.state is PushState.OFF:
            return
        self._stats["push_fallbacks"] += 1
        log.debug("push is down for {queue} ({reason}); polling as usual", queue=self.name, reason=reason)
        self._steer(PushState.DOWN)

    def notified(self) -> None:
        """A notification (a wake-up) for this queue arrived."""
        self._stats["notifications"] += 1
        self._announced = True
        if self.state is PushState.UNVERIFIED:
            log.info("a push notification arrived for {queue}: its idle polling slows down again",
                     queue=self.name)
            self.state = PushState.UP
            self._poller.push_up = True
        if self._poller.wake():
            self._stats["wakeups"] += 1

    def returned(self, delay: float) -> None:
        """
        Messages become claimable again in C{delay} seconds without a post
        (so without a notification): while push is up, wake the queue then.
        """
        if self.state is not PushState.UP:
            return  # polled as usual: a poll finds them
        if delay <= 0:
            self._poller.wake()
            return
        call: IDelayedCall

        def wake() -> None:
            self._expiries.discard(call)
            self._poller.wake()

        call = self._clock.callLater(delay, wake)
        self._expiries.add(call)

    def forget(self) -> None:
        """The queue is unsubscribed or the subscriber stops: cancel pending wake-ups."""
        for call in self._expiries:
            if call.active():
                call.cancel()
        self._expiries.clear()

    def claim_started(self) -> tuple[bool, bool]:
        """
        A claim of this queue begins.

        @return: whether it is a safety poll, and whether a notification
            came since the previous claim began.
        """
        safety, self._poller.safety_poll = self._poller.safety_poll, False
        announced, self._announced = self._announced, False
        return safety, announced

    def claimed(self, safety: bool, announced: bool, count: int) -> bool:
        """
        A claim that L{claim_started} began got C{count} messages.

        @return: whether this is the first time the push of this queue
            proved unreliable (the caller logs that once).
        """
        if announced and not count and self.state is PushState.UP:
            self._poller.recheck_soon = True  # notified before Zaqar stored it? (see polling)
        if not (safety and count and not announced and self.state is PushState.UP):
            return False
        self._stats["push_missed"] += 1
        self.state = PushState.UNVERIFIED
        self._poller.push_up = False
        return True


class PushStates:
    """
    The L{QueuePush} of every subscribed queue, and the one warning about
    notifications that never come.

    @param kind: the source's C{kind} (C{"websocket"}, ...), or C{None}
        without a source.
    """

    def __init__(self, kind: str | None) -> None:
        #: The source's kind, or C{None}.
        self.kind = kind
        self._queues: dict[str, QueuePush] = {}
        self._warned = False

    def add(self, name: str, poller: QueuePoller, stats: Any, clock: IReactorTime) -> QueuePush:
        """Track C{name}, polled by C{poller}; its state starts down (off without a source)."""
        queue = self._queues[name] = QueuePush(name, poller, stats, self.kind is not None, clock)
        return queue

    def remove(self, name: str) -> None:
        """C{name} is no longer subscribed."""
        queue = self._queues.pop(name, None)
        if queue is not None:
            queue.forget()

    def forget(self) -> None:
        """The subscriber stops: cancel every pending wake-up."""
        for queue in self._queues.values():
            queue.forget()

    def get(self, name: str) -> QueuePush | None:
        """The L{QueuePush} of C{name}, or C{None} for a queue not subscribed."""
        return self._queues.get(name)

    def states(self, names: Iterable[str] | None = None) -> dict[str, str]:
        """C{{queue: state value}} for C{names} (every tracked queue when omitted)."""
        names = self._queues if names is None else names
        return {name: self._queues[name].state.value for name in names if name in self._queues}

    def missed(self, queue: QueuePush) -> None:
        """C{queue}'s safety poll found messages no notification announced."""
        if self._warned:
            log.info("{queue}: a safety poll found messages no push notification announced; "
                     "polling it as usual until one arrives", queue=queue.name)
            return
        self._warned = True
        log.warn(
            "{queue}: push ({kind}) is up, but a safety poll found messages no notification "
            "announced; polling it as usual until a notification arrives. If none ever does, "
            "Zaqar is not sending them: check that its [storage] message_pipeline includes "
            "zaqar.notification.notifier (this warning is logged once)",
            queue=queue.name, kind=self.kind,
        )
