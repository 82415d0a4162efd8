"""Waiting on real servers: poll a condition against a generous deadline (never a fixed sleep)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater

#: How long any wait on a real server may take before the test fails.
PATIENCE = 60.0


async def wait_until(condition: Callable[[], Any], what: str, timeout: float = PATIENCE,
                     every: float = 0.02) -> None:
    """Poll C{condition()} every C{every} seconds; fail after C{timeout} seconds."""
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await deferLater(reactor, every, lambda: None)
