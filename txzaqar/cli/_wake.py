"""
C{txzaqar tail -f} woken by push (C{--websocket-url}): Zaqar's WebSocket
notifications (a L{txzaqar.push.WebSocketPush}) cut the wait between two
reads of the queue short.  While they flow for the queue the reads slow to
the safety interval (L{safety_interval}: a lost notification delays a
message by at most that); while they do not, the queue is read every
C{--interval} seconds as without push.  Push going down is said in one line
on standard error (L{PushReport}); it reconnects by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from zope.interface import implementer

from ..interfaces import IWakeTarget
from ._follow import Seen, Stop, read_new

#: The least seconds between reads while push is up (C{--interval} when longer).
SAFETY = 30.0


def safety_interval(interval: float) -> float:
    """The seconds between reads while push is up, for C{--interval} C{interval}."""
    return max(interval, SAFETY)


class PushReport:
    """
    While in this block, each warning of the push source (namespace
    C{txzaqar.push}: push down, reconnecting) is said in one line, followed
    by C{meanwhile} (what the command does until push is up again).  The
    source says one per outage.
    """

    def __init__(self, say: Callable[[str], None], meanwhile: str, publisher: Any = globalLogPublisher) -> None:
        self._say = say
        self._meanwhile = meanwhile
        self._publisher = publisher

    def __call__(self, event: dict[str, Any]) -> None:
        level = event.get("log_level")
        if event.get("log_namespace") != "txzaqar.push" or level is None or level < LogLevel.warn:
            return
        text = " ".join((formatEvent(event) or "").split())
        self._say(f"{text} ({self._meanwhile})")

    def __enter__(self) -> PushReport:
        self._publisher.addObserver(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._publisher.removeObserver(self)


@implementer(IWakeTarget)
class Pacer:
    """
    The wait between two reads of C{tail -f}, as a push source steers it.

    A read after a full safety wait that prints messages no notification
    announced means notifications do not come (a Zaqar without the notifier
    pipeline accepts subscriptions and sends nothing): the queue is then read
    every C{interval} again until a notification comes, and this is said once.

    @param queue_name: the queue followed (wake-ups of others are ignored).
    @param stop: the L{Stop} whose sleep a wake-up cuts short.
    @param interval: C{--interval}: the wait while push is down.
    @param say: says one line on standard error.
    """

    def __init__(self, queue_name: str, stop: Stop, interval: float, say: Callable[[str], None]) -> None:
        self._name = queue_name
        self._stop = stop
        self._interval = interval
        self._safety = safety_interval(interval)
        self._say = say
        #: Whether notifications flow for the queue.
        self.up = False
        #: Whether they flow but a safety read found messages they did not announce.
        self.unverified = False
        self._announced = False  # a notification came since the last read began
        self._safety_wait = False  # the last wait was a safety wait, not cut short
        self._read = (False, False)  # of the read under way: announced, after a full safety wait
        self._warned = False

    def wake(self, queue_name: str) -> None:
        if queue_name != self._name:
            return
        self._announced = True
        self._safety_wait = False
        self.unverified = False
        self._stop.wake()

    def push_up(self, queue_name: str) -> None:
        if queue_name == self._name:
            self._steer(True)

    def push_down(self, queue_name: str, reason: str) -> None:
        if queue_name == self._name:
            self._steer(False)

    def _steer(self, up: bool) -> None:
        self.up, self.unverified = up, False
        self._safety_wait = False
        self._stop.wake()  # read once now: a message may have come that nothing announced

    def begin(self) -> None:
        """A read begins."""
        self._read = (self._announced, self._safety_wait)
        self._announced = self._safety_wait = False

    def after(self, printed: int) -> float:
        """The seconds to wait after the read L{begin} began, which printed C{printed} messages."""
        announced, after_safety_wait = self._read
        if self.up and after_safety_wait and printed and not announced and not self.unverified:
            self.unverified = True
            if not self._warned:
                self._warned = True
                self._say(
                    f"WebSocket push is up for {self._name}, but a read found messages no notification "
                    f"announced: reading every {self._interval:g} s until one arrives (is "
                    "zaqar.notification.notifier in Zaqar's [storage] message_pipeline?)"
                )
        if not self.up or self.unverified or (announced and not printed):
            # down; or notifications do not come; or notified before Zaqar stored it: look again soon
            return self._interval
        self._safety_wait = True
        return self._safety


async def follow(queue: Any, emit: Callable[[Any], None], stop: Stop, interval: float, source: Any,
                 say: Callable[[str], None]) -> None:
    """
    Print C{queue}'s messages once each, without consuming them, until
    stopped: read at once when C{source} (an L{txzaqar.interfaces.IWakeSource})
    wakes the queue, every L{safety_interval} while its notifications flow,
    every C{interval} seconds while they do not.  The source is stopped (its
    subscription deleted) when this ends.
    """
    pacer = Pacer(queue.name, stop, interval, say)
    seen, marker = Seen(), None
    printed = [0]

    def counted(message: Any) -> None:
        printed[0] += 1
        emit(message)

    await source.start(pacer)
    try:
        source.watch(queue.name)
        while not stop.requested:
            printed[0] = 0
            pacer.begin()
            marker = await read_new(queue, marker, seen, counted)
            await stop.sleep(pacer.after(printed[0]))
    finally:
        await source.unwatch(queue.name)
        await source.stop()
