"""
Blocking calls off the reactor thread, on a thread pool of one's own.

L{OwnedThreadPool} is the one pool type of the library: keystoneauth1's
calls, plain Subscriber callbacks and the formatting of C{/metrics} each
run on one (never on the reactor's own pool, which also resolves names).
Tests give it a L{RunInThread} instead, and no thread is made.

C{ThreadPool.stop()} joins the pool's threads; one may still run a call
that cannot be interrupted (a keystoneauth1 request past its timeout, a
blocking handler, a scrape being formatted), so the join happens in a
short-lived daemon thread instead of on the reactor thread
(L{stop_in_background}).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

__all__ = ["OwnedThreadPool", "RunInThread", "stop_in_background"]

#: Signature of the function that runs a blocking call off the reactor
#: thread: C{run(f, *args)} returns a Deferred of C{f(*args)}.
RunInThread = Callable[..., "Deferred[Any]"]


def stop_in_background(pool: ThreadPool) -> None:
    """Stop C{pool} and join its threads off the calling thread; returns at once."""
    threading.Thread(target=pool.stop, name=f"{pool.name or 'pool'}-stop", daemon=True).start()


class OwnedThreadPool:
    """
    A C{ThreadPool} owned by its user: made here, started by L{start},
    stopped (joined off the reactor thread) by L{stop}; or, when
    C{run_in_thread} is given, no pool at all and every call goes there.

    @param reactor: an C{IReactorThreads} (its C{callFromThread} brings
        results back); unused when C{run_in_thread} is given.
    @param name: the pool's name (its threads are named after it).
    @param maxthreads: the most threads at once.
    @param daemon: make the threads daemon threads, so that a call that
        never returns does not keep the process from exiting.
    @param run_in_thread: run calls with this instead (tests): then
        L{start} and L{stop} do nothing and L{running} is always C{True}.
    """

    def __init__(self, reactor: Any, name: str, maxthreads: int = 1, *, daemon: bool = False,
                 run_in_thread: RunInThread | None = None) -> None:
        self._reactor = reactor
        self._name = name
        self._maxthreads = maxthreads
        self._daemon = daemon
        self._given = run_in_thread
        self._running = False
        self._used = False  # self.pool was started (so a start needs a new one)
        #: The pool of threads: the one running, else the next one L{start}
        #: starts (or the last one stopped, until then); C{None} when calls
        #: go to a given C{run_in_thread}.
        self.pool: ThreadPool | None = None if run_in_thread is not None else self._new_pool()

    def __repr__(self) -> str:
        owner = "given" if self.owned is False else f"maxthreads={self._maxthreads}"
        return f"<OwnedThreadPool {self._name!r} {owner} running={self.running}>"

    @property
    def owned(self) -> bool:
        """Whether calls run on a pool of this object's own (not a given C{run_in_thread})."""
        return self._given is None

    @property
    def running(self) -> bool:
        """Whether calls run now: the pool was started and not stopped since (always, when given)."""
        return self._given is not None or self._running

    def _new_pool(self) -> ThreadPool:
        pool = ThreadPool(minthreads=0, maxthreads=self._maxthreads, name=self._name)
        if self._daemon:
            pool.threadFactory = functools.partial(threading.Thread, daemon=True)  # type: ignore[assignment]
        return pool

    def start(self) -> None:
        """Start the pool (a new one after a L{stop}); nothing if it runs or was given."""
        if self._given is not None or self._running:
            return
        if self.pool is None or self._used:
            self.pool = self._new_pool()  # a stopped pool may still be joining its threads
        self.pool.start()
        self._used = self._running = True

    def stop(self) -> None:
        """
        Stop the pool without waiting: its threads are joined off the
        calling thread (a call still running is not interrupted).
        Nothing if it is not running or was given.
        """
        if self._given is not None or not self._running:
            return
        self._running = False
        assert self.pool is not None
        stop_in_background(self.pool)

    def run(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """
        Run C{f(*args)} in a thread of the pool (or with the given
        C{run_in_thread}); a call made before L{start} waits for it.

        @return: a Deferred of C{f(*args)}.
        """
        if self._given is not None:
            return self._given(f, *args)
        assert self.pool is not None
        return deferToThreadPool(self._reactor, self.pool, f, *args)
