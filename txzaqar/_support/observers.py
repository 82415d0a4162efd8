"""
Telling observers: the one way txzaqar calls its observers (a
Subscriber's L{txzaqar.interfaces.ISubscriberObserver}s, a push source's
L{txzaqar.interfaces.IWakeTarget}), each a method of an interface called
directly, so mypy checks the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from twisted.logger import Logger

#: This module's logger (each caller may give its own).
log = Logger(namespace="txzaqar.observers")

#: An observer's type: the interface it provides.
T = TypeVar("T")


def notify(observers: Iterable[T], what: str, call: Callable[[T], object], logger: Logger | None = None) -> None:
    """
    C{call(observer)} for each of C{observers} (a copy of them: an observer
    may remove itself), e.g. C{lambda o: o.message_delivered(queue, message)}.
    What an observer raises is logged, never raised into the caller.

    @param what: the method called, for the log.
    @param logger: where failures are logged; this module's logger when omitted.
    """
    for observer in list(observers):
        try:
            call(observer)
        except Exception:
            (logger or log).failure("observer {observer!r} failed in {method}", observer=observer, method=what)
