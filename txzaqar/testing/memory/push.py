"""
L{MemoryPush}: push notifications of the in-memory Zaqar, an
L{IWakeSource} for trial tests of a Subscriber with push, on a C{Clock}::

    client, fake = memory_client()
    push = fake.push()                      # the project of memory_client(), "test"
    subscriber, _, _ = memory_subscriber(client=client, fake=fake, push=push)
    subscriber.subscribe("orders", handle)
    subscriber.startService()
    fake.clock.advance(0)                   # push_up("orders") is delivered
    client.queue("orders").post({"body": 1})
    fake.clock.advance(0)                   # the notification wakes the subscriber

    push.disconnect()                       # push_down: the subscriber polls as usual
    push.lose_notifications = True          # or: posts notify nothing, push stays "up"
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ...interfaces import IWakeSource, IWakeTarget
from .model import ZaqarState

__all__ = ["MemoryPush"]


@implementer(IWakeSource)
class MemoryPush:
    """
    The in-memory Zaqar's notifications of one project (an L{IWakeSource}):
    when messages are posted to a watched queue of the project, the target
    is woken once per message, as Zaqar's notifier POSTs once per message.

    Like Zaqar's notifier, it is asynchronous: everything it tells the
    target (C{wake}, C{push_up}, C{push_down}) goes through
    C{clock.callLater(0, ...)} on the fake's clock, so a test advances the
    clock (by 0) to deliver it.  C{push_up} follows L{watch} (once started
    and connected) and L{reconnect}; C{push_down} follows L{disconnect}.
    Notifications while disconnected, or while L{lose_notifications} is
    set, are lost (counted in L{lost}).

    Make one with C{fake.push(project_id)} on a C{MemoryZaqar}.  It
    creates no subscription the API would list.

    @param state: the fake's model.
    @param project_id: the project whose queues it watches.
    """

    #: What pushes (see L{IWakeSource.kind}).
    kind = "memory"

    def __init__(self, state: ZaqarState, project_id: str) -> None:
        self._model = state
        #: The project whose queues are watched.
        self.project_id = project_id
        #: Drop notifications (push stays up): to test the polling safety net.
        self.lose_notifications = False
        #: Notifications delivered (C{wake} calls).
        self.notifications = 0
        #: Notifications dropped (disconnected, or L{lose_notifications}).
        self.lost = 0
        self._target: IWakeTarget | None = None
        self._state = "new"
        self._connected = True
        self._watched: set[str] = set()
        self._up: set[str] = set()

    def __repr__(self) -> str:
        return f"<MemoryPush {self.project_id!r} {self.state}, {len(self._up)}/{len(self._watched)} up>"

    @property
    def state(self) -> str:
        """C{"new"}, C{"started"}, C{"disconnected"} or C{"stopped"}."""
        if self._state == "started" and not self._connected:
            return "disconnected"
        return self._state

    @property
    def queues_up(self) -> frozenset[str]:
        """The queues whose C{push_up} was delivered last."""
        return frozenset(self._up)

    @property
    def watched(self) -> frozenset[str]:
        """The queues watched."""
        return frozenset(self._watched)

    # -- IWakeSource ------------------------------------------------------------

    def start(self, target: IWakeTarget) -> Deferred[None]:
        """Fires at once; the queues watched so far go up."""
        self._target = target
        self._state = "started"
        self._model.post_observers.append(self._posted)
        for name in sorted(self._watched):
            self._later(self._tell_up, name)
        return succeed(None)

    def watch(self, queue_name: str) -> None:
        """C{push_up} follows when started and connected."""
        if queue_name in self._watched:
            return
        self._watched.add(queue_name)
        if self._state == "started":
            self._later(self._tell_up, queue_name)

    def unwatch(self, queue_name: str) -> Deferred[None]:
        """The Deferred has fired already."""
        self._watched.discard(queue_name)
        self._up.discard(queue_name)
        return succeed(None)

    def stop(self) -> Deferred[None]:
        """Stops notifying; the Deferred has fired already."""
        if self._posted in self._model.post_observers:
            self._model.post_observers.remove(self._posted)
        self._state = "stopped"
        self._up.clear()
        return succeed(None)

    # -- what tests do ----------------------------------------------------------

    def disconnect(self) -> None:
        """Lose the connection: every watched queue goes down; later posts notify nothing."""
        self._connected = False
        for name in sorted(self._watched):
            self._later(self._tell_down, name, "disconnected (MemoryPush.disconnect)")

    def reconnect(self) -> None:
        """Connect again: every watched queue goes up."""
        self._connected = True
        for name in sorted(self._watched):
            self._later(self._tell_up, name)

    # -- inside -----------------------------------------------------------------

    def _live(self, queue_name: str) -> bool:
        return self._state == "started" and self._connected and queue_name in self._watched

    def _later(self, f: Any, *args: Any) -> None:
        self._model.clock.callLater(0, f, *args)

    def _posted(self, project_id: str, queue_name: str, count: int) -> None:
        if project_id != self.project_id or queue_name not in self._watched:
            return
        if not self._live(queue_name) or self.lose_notifications:
            self.lost += count
            return
        for _ in range(count):
            self._later(self._deliver, queue_name)

    def _deliver(self, queue_name: str) -> None:
        if not self._live(queue_name) or self._target is None:
            self.lost += 1
            return
        self.notifications += 1
        self._target.wake(queue_name)

    def _tell_up(self, queue_name: str) -> None:
        if self._live(queue_name) and queue_name not in self._up and self._target is not None:
            self._up.add(queue_name)
            self._target.push_up(queue_name)

    def _tell_down(self, queue_name: str, reason: str) -> None:
        if (self._state == "started" and not self._connected and queue_name in self._up
                and self._target is not None):
            self._up.discard(queue_name)
            self._target.push_down(queue_name, reason)
