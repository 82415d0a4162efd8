"""Helpers shared by the drivers that run in the project's environment."""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred


def run_driver(ops: Mapping[str, Callable[[Any, dict], Any]]) -> None:
    """
    A driver's C{main}: run C{ops[spec["op"]](reactor, spec)} for the JSON
    spec in C{sys.argv[1]}, print its result as one JSON line, exit.
    """
    spec = json.loads(sys.argv[1])

    async def run(reactor: Any) -> None:
        result = await ops[spec["op"]](reactor, spec)
        print(json.dumps(result), flush=True)

    task.react(lambda reactor: Deferred.fromCoroutine(run(reactor)))


def finish(done: Deferred[None]) -> None:
    """Fire C{done} unless it has fired (what a deadline calls)."""
    if not done.called:
        done.callback(None)


class Arrivals:
    """
    The messages a latency driver got, by their C{body["n"]}: C{done}
    fires once C{expect} different ones have come.  With C{drop_first}
    (C{--break-delivery}) the first one is not to be recorded: a message
    lost after its acknowledgement, which the benchmark must catch.
    """

    def __init__(self, expect: int, drop_first: bool = False) -> None:
        self.expect = expect
        self.numbers: set[object] = set()
        self.to_drop = 1 if drop_first else 0
        self.done: Deferred[None] = Deferred()

    def arrived(self, number: object) -> bool:
        """Note that message C{number} arrived; whether to record it."""
        self.numbers.add(number)
        keep = not self.to_drop
        self.to_drop = 0
        if len(self.numbers) >= self.expect:
            finish(self.done)
        return keep


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
    """VmRSS: the resident set size of this process now, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
