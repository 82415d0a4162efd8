"""
C{python -m txzaqar.test.reliability [--full] [--seed N] [--only NAME] [--break]}:
run the reliability scenarios on servers of their own, print the table,
exit 1 if anything was lost or duplicated without explanation, if an
acknowledgement was lost before its retries ran out, or if a wait ran
past its deadline.  With C{--break} the library's acknowledgement retries
are removed first, and the run must fail.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.task import react

from . import scenarios
from .breakage import remove_acknowledgement_retries
from .stack import Report, Stack, Waits, WaitTimedOut
from .tracing import LOST_WITH_RETRIES_LEFT

#: C{scenario(reactor, stack, sizes, seed, report, waits)}, by name.
SCENARIOS: dict[str, Callable[..., Coroutine[Any, Any, None]]] = {
    "subscribers": scenarios.subscribers,
    "acks": scenarios.acks,
    "posting": scenarios.posting,
    "outage": scenarios.outage,
    "restarts": scenarios.restarts,  # last: it restarts Redis too
}

#: The scenarios in the order they run; those of a phase run side by side
#: (each has its own queues and fault proxy, and faults drawn by request
#: identity, so they do not change each other's faults; most of their time
#: is spent waiting for claims to expire), the ones that stop a server run
#: alone.
PHASES = [("subscribers", "acks", "posting"), ("outage",), ("restarts",)]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m txzaqar.test.reliability", description=__doc__)
    parser.add_argument("--full", action="store_true",
                        help="the README's sizes (10x the messages, a 60 s outage) instead of CI's")
    parser.add_argument("--seed", type=int, default=12, help="the fault schedules' seed (default 12)")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS),
                        help="run only this scenario (repeatable)")
    parser.add_argument("--break", dest="break_acks", action="store_true",
                        help="remove the library's acknowledgement retries first (each DELETE of messages is "
                             "sent once, never retried) to show that the suite catches it: the run must then "
                             "FAIL, naming the " + LOST_WITH_RETRIES_LEFT + "; e.g. --break --only acks "
                             "(python -m txzaqar.test.reliability.broken checks that it does)")
    return parser.parse_args(argv)


def backstop(sizes: scenarios.Sizes) -> float:
    """Seconds a scenario may run at all (its own waits end long before)."""
    return 2 * sizes.deadline + 300


async def run(reactor: Any, options: argparse.Namespace) -> int:
    sizes = scenarios.FULL if options.full else scenarios.CI
    report = Report()
    stack = Stack()
    started = time.monotonic()
    undo = remove_acknowledgement_retries() if options.break_acks else None
    if undo is not None:
        print("[reliability] --break: the library's acknowledgement retries are REMOVED; this run must fail",
              flush=True)
    try:
        await stack.start()
        for phase in PHASES:
            names = [name for name in phase if not options.only or name in options.only]
            await gatherResults([Deferred.fromCoroutine(_scenario(reactor, name, stack, sizes, options.seed, report))
                                 for name in names], consumeErrors=True)
    finally:
        if undo is not None:
            undo()
        await stack.stop()
    print()
    print(f"Reliability, {'full' if options.full else 'CI'} sizes, seed {options.seed}, "
          f"{os.cpu_count()} cores, {time.monotonic() - started:.0f} s in all"
          f"{' (acknowledgement retries removed by --break)' if options.break_acks else ''}:")
    print(report.table())
    for failure in report.failures:
        print(f"FAILED: {failure}")
    print("FAILED" if report.failures else "PASSED")
    return 1 if report.failures else 0


async def _scenario(reactor: Any, name: str, stack: Stack, sizes: scenarios.Sizes, seed: int,
                    report: Report) -> None:
    """Run one scenario, within L{backstop}; whatever it raises is a failure in the report."""
    print(f"[reliability] {name} ...", flush=True)
    t0 = time.monotonic()
    waits = Waits(reactor)
    limit = backstop(sizes)
    running = Deferred.fromCoroutine(SCENARIOS[name](reactor, stack, sizes, seed, report, waits))
    running.addTimeout(limit, reactor)
    try:
        await running
    except DeferredTimeout:
        report.check(False, f"{name}: still running after {limit:g} s, waiting for {waits.current}; stopped")
    except WaitTimedOut as e:
        report.check(False, f"{name}: {e}")
    except Exception as e:
        traceback.print_exc()
        report.check(False, f"{name}: raised {type(e).__name__}: {e} (waiting for {waits.current})")
    print(f"[reliability] {name} done in {time.monotonic() - t0:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)

    async def go(reactor: Any) -> None:
        code = await run(reactor, options)
        if code:
            raise SystemExit(code)  # react exits with it

    react(lambda reactor: Deferred.fromCoroutine(go(reactor)))


if __name__ == "__main__":
    main()
