"""
Concurrency: the slots callbacks run in, and running a callback.

A slot is one of the C{concurrency} callbacks that may run at once, over
all queues.  A claim reserves a slot per message it asks for before it is
sent, and gives back the ones it did not fill when it answers; a callback
gives its slot back when it finishes.  A poll loop that finds no free slot
waits in line for one.

Where a callback runs (L{CallbackRunner}): C{async def} functions and
callables marked with L{on_reactor} run on the reactor thread; with
C{threads > 0} every other (plain, possibly blocking) callback runs in a
bounded thread pool, with C{threads=0} on the reactor thread, where one
that holds the thread too long is reported once (L{BLOCKING_WARNING}).
L{CallbackRunner.run} also applies C{callback_timeout}: a thread cannot be
interrupted, so a callback past it in a thread is waited for, and only
then reported as L{CallbackTimedOut}.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import CancelledError, Deferred, DeferredList, DeferredSemaphore, maybeDeferred
from twisted.python.failure import Failure

from .._support.threads import OwnedThreadPool, RunInThread
from .events import CallbackTimedOut, TimedOutHow, log
from .settlement import observe

#: A callable's type.
F = TypeVar("F", bound=Callable[..., Any])

#: The attribute L{on_reactor} sets on a callable.
ON_REACTOR = "txzaqar_on_reactor"

#: The format of the one warning about a callback that held the reactor thread.
BLOCKING_WARNING = (
    "{queue}: a callback held the reactor thread for {seconds:.2f}s; run blocking handlers "
    "in threads: Subscriber(threads=N) or twistd zaqar-listen --threads N"
)

def on_reactor(callback: F) -> F:
    """
    Mark C{callback} to run on the reactor thread even with C{threads > 0}:
    for a function that returns a Deferred (or otherwise must not run in
    a thread).  C{async def} functions need no mark.  Returns C{callback}
    itself::

        @on_reactor
        def handle(message):
            return treq.post(...)

    @raise TypeError: C{callback} takes no attributes (mark a function
        that calls it instead).
    """
    setattr(callback, ON_REACTOR, True)
    return callback


def runs_on_reactor(callback: Callable[..., Any]) -> bool:
    """
    Whether C{callback} runs on the reactor thread whatever C{threads}
    says: it is an C{async def} function (also through
    C{functools.partial} or a bound method), an object whose C{__call__}
    is one, or it was marked with L{on_reactor} (it or the function a
    C{partial} wraps).
    """
    target: Any = callback
    while True:
        if getattr(target, ON_REACTOR, False) or inspect.iscoroutinefunction(target):
            return True
        if isinstance(target, functools.partial):
            target = target.func
            continue
        break
    if callable(target) and not inspect.isroutine(target) and not inspect.isclass(target):
        call = type(target).__call__  # an object whose class's __call__ is async or marked
        if getattr(call, ON_REACTOR, False) or inspect.iscoroutinefunction(call):
            return True
    return False


class AsyncResultInThread(TypeError):
    """
    A callback run in a thread returned a Deferred, a coroutine or another
    awaitable: it was not waited for, and its message counts as failed
    (it is released for redelivery).  Mark such a callback with
    L{on_reactor}, or make it C{async def}.
    """


def _call_in_thread(callback: Callable[[Any], Any], message: Any) -> Any:
    """Run in a pool thread: C{callback(message)}, refusing an asynchronous result."""
    result = callback(message)
    if isinstance(result, Deferred) or inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: say so here, not in a RuntimeWarning
        name = getattr(callback, "__qualname__", None) or repr(callback)
        raise AsyncResultInThread(
            f"callback {name} ran in a thread (threads > 0) and returned "
            f"{type(result).__name__}, which is not waited for there: mark it with "
            "@txzaqar.subscriber.on_reactor (for a Deferred-returning function) or make it async def"
        )
    return result


class Slots:
    """
    The C{concurrency} slots shared by every queue of a subscriber, and
    the poll loops waiting for one.
    """

    def __init__(self, concurrency: int) -> None:
        #: How many slots there are.
        self.concurrency = concurrency
        #: Slots reserved for claims in flight, plus callbacks running.
        self.busy = 0
        #: Deferreds of the poll loops waiting for a free slot, longest-waiting first.
        self.waiters: list[Deferred[None]] = []

    @property
    def free(self) -> int:
        """How many slots are free."""
        return self.concurrency - self.busy

    def reserve(self, count: int) -> None:
        """Take C{count} slots, and wake the next waiter if some are left."""
        self.busy += count
        self.wake_next()

    def give_back(self, count: int) -> None:
        """Return C{count} slots, and wake the next waiter if one is free."""
        self.busy -= count
        self.wake_next()

    def wait(self) -> Deferred[None]:
        """
        @return: a Deferred firing with C{None} when this waiter's turn
            comes and a slot is free (cancel it to leave the line).
        """
        waiter: Deferred[None] = Deferred()
        self.waiters.append(waiter)
        return waiter

    def wake_next(self) -> None:
        """
        Wake the longest-waiting poll loop if a slot is free; it wakes the
        next one once it has reserved its slots and some are left.  One at
        a time: waking every waiter made each finished claim cost work in
        proportion to the number of queues (a Subscriber on 1,000 idle
        queues used ~90 % of a core while backed off).
        """
        while self.busy < self.concurrency and self.waiters:
            d = self.waiters.pop(0)
            if not d.called:
                d.callback(None)
                return


def _cancelled_at_deadline(outcome: Any, timeout: float) -> Any:
    """
    C{onTimeoutCancel} of a callback on the reactor thread: its
    cancellation (a C{CancelledError}) becomes a L{CallbackTimedOut};
    whatever else the cancelled Deferred fired with stays.
    """
    if isinstance(outcome, Failure) and outcome.check(CancelledError):
        return Failure(CallbackTimedOut(timeout, timeout, TimedOutHow.CANCELLED))
    return outcome


def invoke(callback: Callable[[Any], Any], message: Any) -> Any:
    """
    Call C{callback(message)}; a coroutine or other awaitable it returns
    becomes a Deferred, anything else is returned as it is (use it with
    C{maybeDeferred}).
    """
    result = callback(message)
    if inspect.iscoroutine(result):
        return Deferred.fromCoroutine(result)
    if not isinstance(result, Deferred) and inspect.isawaitable(result):
        async def wait() -> Any:
            return await result

        return Deferred.fromCoroutine(wait())
    return result


class CallbackRunner:
    """
    Runs callbacks: on the reactor thread, or (C{threads > 0}, plain
    callbacks) in a thread pool of at most C{threads} threads, owned by
    the subscriber: made by L{start}, stopped by L{stop}.

    @param threads: the most callbacks running in threads at once (0: no
        threads, everything runs on the reactor thread).
    @param reactor: an C{IReactorTime} that times C{callback_timeout},
        and an C{IReactorThreads} (its C{callFromThread} brings results
        back) unless C{run_in_thread} is given.
    @param run_in_thread: override how a plain callback is run in a thread
        (tests): C{run(f, *args)} returns a Deferred of C{f(*args)}.
    @param blocking_warning: seconds a plain callback may hold the reactor
        thread before the one warning is logged (C{None}: never).
    @param timer: the clock that times callbacks on the reactor thread
        (default C{time.monotonic}).
    """

    def __init__(self, threads: int, reactor: Any, run_in_thread: RunInThread | None = None,
                 blocking_warning: float | None = 0.1,
                 timer: Callable[[], float] = time.monotonic) -> None:
        #: The most callbacks running in threads at once (0: no threads).
        self.threads = threads
        self._reactor = reactor
        self._threads = OwnedThreadPool(reactor, "txzaqar-subscriber", max(threads, 1), daemon=True,
                                        run_in_thread=run_in_thread)
        self._blocking_warning = blocking_warning
        self._timer = timer
        self._warned = False
        self._semaphore = DeferredSemaphore(max(threads, 1))
        #: Callbacks running in threads now (their thread has not returned, whether or not their message
        #: was given up).
        self.running = 0
        self._returns: set[Deferred[None]] = set()
        #: C{(queue, message id)}: a Deferred firing when that message's callback is over
        self._by_message: dict[tuple[str, str], Deferred[None]] = {}

    def start(self) -> None:
        """Make and start the thread pool (if threads are used and not injected)."""
        # daemon threads: a callback that never returns must not keep
        # the process from exiting once the service stopped
        if self.threads:
            self._threads.start()

    def stop(self) -> None:
        """
        Stop the thread pool without waiting: its threads are joined off
        the reactor thread (a callback still running is not interrupted).
        """
        self._threads.stop()

    def idle(self) -> Deferred[Any]:
        """
        @return: a Deferred firing once every callback running in a thread
            now has returned (cancel it to stop waiting).
        """
        return DeferredList([observe(d) for d in self._returns], consumeErrors=True)

    def track(self, queue: str, message_id: str, outcome: Deferred[Any]) -> None:
        """
        Remember that the callback of C{message_id} on C{queue} runs until
        C{outcome} fires (however it fires): see L{running_now}.
        """
        key = (queue, message_id)
        over = observe(outcome)
        if over.called:
            return
        self._by_message[key] = over

        def forget(_: None) -> None:
            if self._by_message.get(key) is over:
                del self._by_message[key]

        over.addCallback(forget)

    def running_now(self, queue: str, message_id: str) -> Deferred[None] | None:
        """
        @return: C{None} when no callback of C{message_id} on C{queue} runs
            now (see L{track}), else a Deferred firing with C{None} once it
            is over.
        """
        over = self._by_message.get((queue, message_id))
        return None if over is None else observe(over)

    def run(self, callback: Callable[[Any], Any], message: Any, plain: bool, queue: str,
            given_up: Callable[[], bool], timeout: float | None = None,
            ) -> tuple[Deferred[Any], Deferred[None] | None]:
        """
        Run C{callback(message)}: in a thread if it is C{plain} and there
        are threads, else on the reactor thread.

        C{timeout} counts from now (waiting for a thread included).  At
        the deadline a callback on the reactor thread is cancelled and one
        still waiting for a thread never starts; a callback whose thread
        runs is not given up on, since its thread cannot be interrupted:
        C{result} waits for the thread, so that the message stays claimed
        (and is never handed out again) while it still runs.  In each case
        C{result} fails with L{CallbackTimedOut}, saying how it ended and
        how long it ran; for a thread that returned late, what it returned
        (or raised) is in the L{CallbackTimedOut}.

        @param plain: C{not L{runs_on_reactor}(callback)}.
        @param queue: the queue's name (for the warning).
        @param given_up: says whether the message was given up on (its
            claim released) while it waited for a thread: it then never
            starts.
        @param timeout: C{callback_timeout} in seconds, or C{None}.
        @return: C{(result, returned)}: C{result} fires with the
            callback's result, or fails with what it raised or with
            L{CallbackTimedOut} (cancelling it abandons the callback; one
            waiting for a thread never starts); C{returned} is C{None} on
            the reactor thread, else it fires with C{None} once the thread
            returned (or the callback never started), which may be later
            than C{result} (for an abandoned callback).
        """
        if not (plain and self.threads):
            d = self._run_on_reactor(callback, message, plain, queue)
            if timeout is not None:
                d.addTimeout(timeout, self._reactor, onTimeoutCancel=_cancelled_at_deadline)
            return d, None
        handed_over = self._reactor.seconds()
        returned: Deferred[None] = Deferred()
        started = False
        thread_started = 0.0
        #: the timeout once the deadline passed with the thread running
        late: float | None = None
        acquiring = self._semaphore.acquire()

        def cancel(_: Deferred[Any]) -> None:
            if not started:
                acquiring.cancel()

        result: Deferred[Any] = Deferred(cancel)
        deadline: Any = None

        def stop_deadline(outcome: Any) -> Any:
            if deadline is not None and deadline.active():
                deadline.cancel()
            return outcome

        result.addBoth(stop_deadline)

        def expire(limit: float) -> None:
            nonlocal late
            if not started:  # still waiting for a thread: it never starts
                acquiring.cancel()
                result.errback(Failure(CallbackTimedOut(
                    limit, self._reactor.seconds() - handed_over, TimedOutHow.NEVER_STARTED)))
                return
            late = limit
            log.debug("callback for {message_id} on {queue} passed callback_timeout ({timeout}s) in "
                      "its thread; its message stays claimed until the thread returns",
                      message_id=message.id, queue=queue, timeout=limit)

        if timeout is not None:
            deadline = self._reactor.callLater(timeout, expire, timeout)

        def go(_: Any) -> None:
            nonlocal started, thread_started
            started = True
            if given_up():
                self._semaphore.release()
                returned.callback(None)
                result.cancel()
                return
            self.running += 1
            self._returns.add(returned)
            thread_started = self._reactor.seconds()
            d = maybeDeferred(self._in_thread, _call_in_thread, callback, message)

            def back(outcome: Any) -> None:
                self.running -= 1
                self._returns.discard(returned)
                self._semaphore.release()
                returned.callback(None)
                if result.called:  # given up on: the outcome is not wanted
                    return
                if late is not None:
                    error = outcome if isinstance(outcome, Failure) else None
                    result.errback(Failure(CallbackTimedOut(
                        late, self._reactor.seconds() - thread_started, TimedOutHow.RETURNED, error)))
                elif isinstance(outcome, Failure):
                    result.errback(outcome)
                else:
                    result.callback(outcome)

            d.addBoth(back)

        def never_started(_: Failure) -> None:
            returned.callback(None)

        acquiring.addCallbacks(go, never_started)
        return result, returned

    def _in_thread(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        if not self._threads.running:
            raise RuntimeError("the subscriber's thread pool is not running")
        return self._threads.run(f, *args)

    def _run_on_reactor(self, callback: Callable[[Any], Any], message: Any, plain: bool,
                        queue: str) -> Deferred[Any]:
        # only plain callbacks are timed: threads would not help the others
        timed = plain and self._blocking_warning is not None and not self._warned
        started = self._timer() if timed else 0.0
        d = maybeDeferred(invoke, callback, message)
        if timed:
            seconds = self._timer() - started
            if self._blocking_warning is not None and seconds > self._blocking_warning:
                self._warned = True
                log.warn(BLOCKING_WARNING, queue=queue, seconds=seconds, message_id=message.id,
                         threshold=self._blocking_warning)
        return d
