"""Telling an L{IWakeTarget}, as every push source does."""

from __future__ import annotations

from twisted.logger import Logger

from ..interfaces import IWakeTarget


def tell(target: IWakeTarget | None, log: Logger, method: str, *args: str) -> None:
    """
    Call C{target.method(*args)} (C{wake}, C{push_up}, C{push_down});
    nothing without a target.  What it raises is logged on C{log}, never
    raised into the source (a connection's or a request's code).
    """
    if target is None:
        return
    try:
        getattr(target, method)(*args)
    except Exception:
        log.failure("the push target's {method} raised", method=method)
