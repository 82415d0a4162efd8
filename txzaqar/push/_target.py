"""Telling an L{IWakeTarget}, as every push source does."""

from __future__ import annotations

from collections.abc import Callable

from twisted.logger import Logger

from .._support.observers import notify
from ..interfaces import IWakeTarget


def tell(target: IWakeTarget | None, log: Logger, method: str, call: Callable[[IWakeTarget], object]) -> None:
    """
    C{call(target)}, e.g. C{lambda t: t.wake(queue)} (C{method} names it
    for the log); nothing without a target.  What it raises is logged on
    C{log}, never raised into the source (a connection's or a request's code).
    """
    if target is not None:
        notify([target], method, call, log)
