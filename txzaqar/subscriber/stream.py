"""
The pull stream: messages of queues subscribed without a callback, read
with C{async for} from L{Subscriber.listen}.

Each message waits in the stream (in its claimed slot, its claim renewed)
with the Deferred its "callback" returned; the reader fires that Deferred
when it asks for the next message (success: the message is acknowledged)
or errbacks it with L{NotProcessed} when it closes (the message is
released).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet.defer import Deferred, TimeoutError, succeed
from twisted.internet.interfaces import IReactorTime

from .events import NotProcessed


class Stream:
    """Messages waiting for a reader, and readers waiting for a message."""

    def __init__(self) -> None:
        self._items: deque[tuple[Any, Deferred[None], str | None]] = deque()
        self._waiters: deque[Deferred[Any]] = deque()
        #: the queues subscribed without a callback (see L{attach})
        self._sources: set[str] = set()
        #: Whether the stream is closed: new messages are refused as not processed.
        self.closed = False

    def attach(self, source: str) -> None:
        """Queue C{source} is subscribed without a callback: readers wait for its messages."""
        self._sources.add(source)

    def detach(self, source: str) -> None:
        """
        Queue C{source} is unsubscribed: hand back (L{NotProcessed}) its
        messages no reader has taken, so that its claims are released at
        once and no later reader gets a message whose claim is gone; and
        end the readers if no queue is left to wait for.
        """
        self._sources.discard(source)
        kept: deque[tuple[Any, Deferred[None], str | None]] = deque()
        withdrawn: list[tuple[Any, Deferred[None], str | None]] = []
        for item in self._items:
            (withdrawn if item[2] == source else kept).append(item)
        self._items = kept
        for _, done, _ in withdrawn:
            done.errback(NotProcessed())
        if not self._sources and not self._items:
            self._end_waiters()

    def put(self, message: Any, source: str | None = None) -> Deferred[None]:
        """
        The callback of a queue subscribed without one.

        @param source: the queue the message came from (see L{detach}).
        @return: a Deferred firing with C{None} when a reader is done with
            C{message}, or failing with L{NotProcessed} if it was handed back.
        """
        done: Deferred[None] = Deferred()
        if self.closed:
            done.errback(NotProcessed())
            return done
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.called:
                waiter.callback((message, done))
                return done
        self._items.append((message, done, source))
        return done

    def next(self) -> Deferred[Any]:
        """
        @return: a Deferred firing with C{(message, done)}, or with C{None}
            once the stream is closed or no queue is subscribed without a
            callback (nothing could ever come); cancelling it leaves the line.
        """
        if self._items:
            message, done, _ = self._items.popleft()
            return succeed((message, done))
        if self.closed or not self._sources:
            return succeed(None)
        waiter: Deferred[Any] = Deferred(self._forget_waiter)
        self._waiters.append(waiter)
        return waiter

    def _forget_waiter(self, waiter: Deferred[Any]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    def open(self) -> None:
        """Accept messages again (the subscriber started again)."""
        self.closed = False

    def close(self) -> None:
        """Hand back every waiting message (L{NotProcessed}) and end every reader."""
        self.closed = True
        items, self._items = self._items, deque()
        for _, done, _ in items:
            done.errback(NotProcessed())
        self._end_waiters()

    def _end_waiters(self) -> None:
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.called:
                waiter.callback(None)


class Listener:
    """The async iterator of L{Subscriber.listen}."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._current: Deferred[None] | None = None
        self._closed = False

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> Any:
        self._settle(None)
        if self._closed:
            raise StopAsyncIteration
        item = await self._stream.next()
        if item is None:
            self._closed = True
            raise StopAsyncIteration
        message, self._current = item
        return message

    def _settle(self, failure: Exception | None) -> None:
        current, self._current = self._current, None
        if current is not None and not current.called:
            if failure is None:
                current.callback(None)
            else:
                current.errback(failure)

    async def aclose(self) -> None:
        """Stop iterating; a message yielded and not acknowledged is released."""
        self._closed = True
        self._settle(NotProcessed())


class Getter:
    """
    What L{Subscriber.get_message} reads with: each call acknowledges the
    messages it returned before, then waits for the next one.
    """

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        #: the done Deferreds of the messages returned and not yet acknowledged
        self._held: list[Deferred[None]] = []

    def get(self, timeout: float | None, clock: IReactorTime) -> Deferred[Any]:
        """
        @return: a Deferred firing with the next message, or with C{None}
            after C{timeout} seconds without one (C{None}: no limit), or at
            once when nothing could come (see L{Stream.next}).
        """
        held, self._held = self._held, []
        for done in held:
            if not done.called:
                done.callback(None)
        d = self._stream.next()
        if timeout is not None and not d.called:
            d.addTimeout(timeout, clock)
        return d.addCallbacks(self._took, _timed_out)

    def _took(self, item: Any) -> Any:
        if item is None:
            return None
        message, done = item
        self._held.append(done)
        return message


def _timed_out(failure: Any) -> None:
    """A wait of L{Getter.get} ran out: no message (other failures go on)."""
    failure.trap(TimeoutError)
