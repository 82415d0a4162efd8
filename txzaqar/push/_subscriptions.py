"""
Which queues a WebSocket push connection is subscribed to:
L{Subscriptions} creates one subscription per watched queue on each new
connection, renews each before its ttl ends, deletes those no longer
wanted, and says which queues are up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from . import _frames

#: The push sources' logger (namespace C{txzaqar.push}).
log = Logger(namespace="txzaqar.push")

#: A subscription is renewed when this share of its ttl has passed.
RENEW_AFTER = 0.75


class Subscriptions:
    """
    The watched queues and their subscriptions on the current connection.

    Zaqar has no update over WebSocket and refuses a second subscription
    for the same connection and queue, so each is deleted and created
    again after three quarters of its ttl, and the queue is woken once
    after that (a message posted in between sent no notification).

    @param clock: an C{IReactorTime}.
    @param ttl: seconds each subscription lives.
    @param send: sends a frame (action, body) on the current connection.
    @param up: called when a subscription was created (push is up).
    @param fail: called with the reason when a watched queue's
        subscription is refused (the owner then fails the connection).
    @param wake: called with a queue's name to wake it.
    @param push_up: called with a queue's name when its notifications
        begin to flow.
    @param push_down: called with a queue's name and the reason when they
        stop.
    """

    def __init__(
        self,
        clock: Any,
        ttl: int,
        send: Callable[[str, Mapping[str, Any]], None],
        up: Callable[[], None],
        fail: Callable[[str], None],
        wake: Callable[[str], None],
        push_up: Callable[[str], None],
        push_down: Callable[[str, str], None],
    ) -> None:
        self._clock = clock
        self._ttl = ttl
        self._send = send
        self._on_up = up
        self._fail = fail
        self._wake = wake
        self._push_up = push_up
        self._push_down = push_down
        self._watched: set[str] = set()
        self._up: set[str] = set()
        # of the current connection:
        self._ready = False
        self._subscriptions: dict[str, str] = {}
        self._creating: set[str] = set()
        self._renewing: set[str] = set()
        self._renewals: dict[str, IDelayedCall] = {}

    @property
    def queues_up(self) -> frozenset[str]:
        """The queues whose notifications flow now."""
        return frozenset(self._up)

    def watches(self, queue_name: str) -> bool:
        """Whether C{queue_name} is watched."""
        return queue_name in self._watched

    def watch(self, queue_name: str) -> None:
        """Subscribe C{queue_name} (now, or once connected)."""
        if queue_name in self._watched:
            return
        self._watched.add(queue_name)
        if self._ready and queue_name not in self._creating:
            self._subscribe(queue_name)

    def unwatch(self, queue_name: str) -> None:
        """Forget C{queue_name}: delete its subscription if it has one."""
        self._watched.discard(queue_name)
        self._up.discard(queue_name)
        self._renewing.discard(queue_name)
        self._cancel(queue_name)
        subscription_id = self._subscriptions.pop(queue_name, None)
        if subscription_id is not None and self._ready:
            self._send(_frames.SUBSCRIPTION_DELETE, {"queue_name": queue_name, "subscription_id": subscription_id})

    def connected(self) -> None:
        """A connection is ready: subscribe every watched queue (with none, push is up at once)."""
        self._ready = True
        for queue in sorted(self._watched):
            self._subscribe(queue)
        if not self._watched:
            self._on_up()

    def created(self, reply: _frames.Reply) -> None:
        """Zaqar's reply to a C{subscription_create}."""
        queue = reply.queue_name
        if queue is None or queue not in self._creating:
            log.debug("WebSocket push ignored a subscription reply it did not ask for")
            return
        self._creating.discard(queue)
        subscription_id = reply.body.get("subscription_id") if isinstance(reply.body, dict) else None
        if reply.status != 201 or not isinstance(subscription_id, str):
            if queue in self._watched:
                self._fail(f"subscription of {queue} refused: {reply.error()}")
            return
        if queue not in self._watched:
            self._send(_frames.SUBSCRIPTION_DELETE, {"queue_name": queue, "subscription_id": subscription_id})
            return
        self._subscriptions[queue] = subscription_id
        self._renewals[queue] = self._clock.callLater(self._ttl * RENEW_AFTER, self._renew, queue)
        self._on_up()
        if queue in self._renewing:
            self._renewing.discard(queue)
            self._wake(queue)
        elif queue not in self._up:
            self._up.add(queue)
            self._push_up(queue)

    def forget(self) -> None:
        """The connection is gone (Zaqar deletes its subscriptions): forget them, keep the watched queues."""
        for queue in list(self._renewals):
            self._cancel(queue)
        self._ready = False
        self._subscriptions.clear()
        self._creating.clear()
        self._renewing.clear()

    def down(self, reason: str) -> None:
        """Push went down: each queue that was up is reported down, in name order."""
        was_up = sorted(self._up)
        self._up.clear()
        for queue in was_up:
            self._push_down(queue, reason)

    def stopped(self) -> None:
        """The source stopped: no queue is up (and none is told)."""
        self._up.clear()

    # -- internals ----------------------------------------------------------

    def _subscribe(self, queue: str) -> None:
        self._creating.add(queue)
        self._send(_frames.SUBSCRIPTION_CREATE, {"queue_name": queue, "ttl": self._ttl})

    def _renew(self, queue: str) -> None:
        self._renewals.pop(queue, None)
        subscription_id = self._subscriptions.pop(queue, None)
        if not self._ready or subscription_id is None:
            return
        # no update over WebSocket, and a second create for this
        # connection would be a 409: delete, create, then wake once
        self._send(_frames.SUBSCRIPTION_DELETE, {"queue_name": queue, "subscription_id": subscription_id})
        self._renewing.add(queue)
        self._subscribe(queue)

    def _cancel(self, queue: str) -> None:
        call = self._renewals.pop(queue, None)
        if call is not None and call.active():
            call.cancel()
