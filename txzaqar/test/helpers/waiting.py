"""
Waiting on real servers and processes: poll a condition against a
generous deadline, never a fixed sleep.  The one wait of the suite; a test
that watches a process passes C{alive} (fail at once when it died) and
C{details} (its log, added to a timeout's message).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

__all__ = ["PATIENCE", "wait_until"]

#: How long any wait on a real server may take before the test fails.
PATIENCE = 60.0


async def wait_until(condition: Callable[[], Any], what: str, timeout: float = PATIENCE,
                     every: float = 0.02, *, alive: Callable[[], None] | None = None,
                     details: Callable[[], str] | None = None, clock: IReactorTime | None = None) -> Any:
    """
    Poll C{condition()} every C{every} seconds until it returns a true
    value, which is returned.

    @param what: what is waited for, for the failure's message.
    @param timeout: seconds until the wait fails with an C{AssertionError}.
    @param alive: called each round before the deadline is checked; raises
        (an C{AssertionError}) when what the condition depends on died.
    @param details: text added to the timeout's message (a log's tail).
    @param clock: the time source and scheduler (the global reactor).
    """
    clock = clock if clock is not None else reactor
    deadline = clock.seconds() + timeout
    while True:
        value = condition()
        if value:
            return value
        if alive is not None:
            alive()
        if clock.seconds() > deadline:
            tail = f"\n{details()}" if details is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")
        await deferLater(clock, every, lambda: None)
