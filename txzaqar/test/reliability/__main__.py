"""
C{python -m txzaqar.test.reliability [--full] [--seed N] [--only NAME]}:
run the reliability scenarios on servers of its own, print the table,
exit 1 if anything was lost or duplicated without explanation.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Coroutine
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import react

from . import scenarios
from .stack import Report, Stack

SCENARIOS = {
    "subscribers": scenarios.subscribers,
    "acks": scenarios.acks,
    "posting": scenarios.posting,
    "outage": scenarios.outage,
    "restarts": scenarios.restarts,  # last: it restarts Redis too
}

#: The scenarios in the order they run; those of a phase run side by side
#: (each has its own queues and fault proxy; most of their time is spent
#: waiting for claims to expire), the ones that stop a server run alone.
PHASES = [("subscribers", "acks", "posting"), ("outage",), ("restarts",)]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m txzaqar.test.reliability", description=__doc__)
    parser.add_argument("--full", action="store_true",
                        help="the README's sizes (10x the messages, a 60 s outage) instead of CI's")
    parser.add_argument("--seed", type=int, default=12, help="the fault schedules' seed (default 12)")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS),
                        help="run only this scenario (repeatable)")
    return parser.parse_args(argv)


async def run(reactor: Any, options: argparse.Namespace) -> int:
    sizes = scenarios.FULL if options.full else scenarios.CI
    report = Report()
    stack = Stack()
    started = time.monotonic()
    await stack.start()
    try:
        for phase in PHASES:
            names = [name for name in phase if not options.only or name in options.only]
            await gatherResults([Deferred.fromCoroutine(_timed(name, SCENARIOS[name](
                reactor, stack, sizes, options.seed, report))) for name in names], consumeErrors=True)
    finally:
        await stack.stop()
    print()
    print(f"Reliability, {'full' if options.full else 'CI'} sizes, seed {options.seed}, "
          f"{os.cpu_count()} cores, {time.monotonic() - started:.0f} s in all:")
    print(report.table())
    for failure in report.failures:
        print(f"FAILED: {failure}")
    print("FAILED" if report.failures else "PASSED")
    return 1 if report.failures else 0


async def _timed(name: str, scenario: Coroutine[Any, Any, None]) -> None:
    print(f"[reliability] {name} ...", flush=True)
    t0 = time.monotonic()
    await scenario
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
