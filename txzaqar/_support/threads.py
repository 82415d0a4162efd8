"""
Stopping a C{ThreadPool} without blocking the reactor.

C{ThreadPool.stop()} joins the pool's threads; one may still run a call
that cannot be interrupted (a keystoneauth1 request past its timeout, a
blocking handler, a scrape being formatted), so the join happens in a
short-lived daemon thread instead of on the reactor thread.
"""

from __future__ import annotations

import threading

from twisted.python.threadpool import ThreadPool

__all__ = ["stop_in_background"]


def stop_in_background(pool: ThreadPool) -> None:
    """Stop C{pool} and join its threads off the calling thread; returns at once."""
    threading.Thread(target=pool.stop, name=f"{pool.name or 'pool'}-stop", daemon=True).start()
