"""Helpers shared by the drivers that run in the project's environment."""

from __future__ import annotations

import resource


def cpu() -> float:
    """This process's CPU time (user + system), in seconds."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def body(i: int) -> dict:
    """The message every client posts: a small JSON body, ttl one hour."""
    return {"body": {"n": i, "data": "x" * 64}, "ttl": 3600}


def peak_rss_kib() -> int:
    """VmHWM: the peak resident set size of this process, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
