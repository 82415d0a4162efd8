"""
C{python -m txzaqar.test.reliability.soak --minutes N}: the daemon's
service (C{twistd zaqar-listen}'s C{makeService}, run in this process so
that its Deferreds can be counted) consuming a steady stream of messages
through a L{FaultProxy} for N minutes, on servers of its own.  Every
minute it prints the process's RSS, its open file descriptors and the
Deferreds not yet fired; at the end it compares the last minute with the
first and exits 1 if any of them kept growing.  Not run in CI.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall, react

import txzaqar
from txzaqar.daemon._service import Options, makeService
from txzaqar.errors import ZaqarError
from txzaqar.testing.faults import FaultProxy, FaultSchedule

from .stack import PROJECT, Stack, sleep

#: Messages the handler saw (the daemon's --handler is L{count}).
PROCESSED = {"n": 0}


def count(message: Any) -> None:
    """The soak daemon's handler: count the message."""
    PROCESSED["n"] += 1


def rss_kib() -> int:
    """This process's resident set size in KiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def pending_deferreds() -> int:
    """Deferreds alive and not yet fired."""
    return sum(1 for o in gc.get_objects() if isinstance(o, Deferred) and not o.called)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m txzaqar.test.reliability.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--rate", type=float, default=20.0, help="messages posted per second (default 20)")
    parser.add_argument("--faults", type=float, default=0.2, help="share of requests faulted (default 0.2)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--queues", type=int, default=3)
    return parser.parse_args(argv)


async def soak(reactor: Any, options: argparse.Namespace) -> int:
    stack = Stack()
    await stack.start()
    proxy = FaultProxy(stack.url, FaultSchedule(options.seed, options.faults), reactor,
                       stall_limit=5, log_limit=1000)
    proxy.listen()
    queues = [f"soak-{i}" for i in range(options.queues)]
    producer = txzaqar.connect(stack.url, project_id=PROJECT, reactor=reactor)
    for q in queues:
        await producer.queue(q).create()
    daemon_options = Options()
    args = ["--url", proxy.url, "--project-id", PROJECT, "--handler", f"{__name__}:count",
            "--poll-interval", "0.5", "--max-interval", "5", "--stop-timeout", "5"]
    for q in queues:
        args += ["--queue", q]
    daemon_options.parseOptions(args)
    daemon = makeService(daemon_options)
    daemon.startService()
    posted = {"n": 0, "failed": 0}

    def post() -> Deferred[Any]:
        q = queues[posted["n"] % len(queues)]
        d = producer.queue(q).post({"body": {"n": posted["n"]}, "ttl": 3600})
        posted["n"] += 1

        def failed(f: Any) -> None:
            f.trap(ZaqarError)
            posted["failed"] += 1

        return d.addErrback(failed)

    producing = LoopingCall(post)
    producing.clock = reactor
    producing.start(1.0 / options.rate)
    samples: list[tuple[int, int, int]] = []
    print(f"{'minute':>6} {'posted':>8} {'processed':>10} {'faults':>7} {'RSS KiB':>9} {'fds':>5} {'Deferreds':>10}",
          flush=True)
    minutes = max(1, round(options.minutes))
    for minute in range(1, minutes + 1):
        await sleep(reactor, 60.0)
        gc.collect()
        sample = (rss_kib(), open_fds(), pending_deferreds())
        samples.append(sample)
        print(f"{minute:>6} {posted['n']:>8} {PROCESSED['n']:>10} {sum(proxy.counts().values()):>7} "
              f"{sample[0]:>9} {sample[1]:>5} {sample[2]:>10}", flush=True)
    producing.stop()
    await daemon.stopService()
    await proxy.stop()
    for q in queues:
        await producer.queue(q).delete()
    await producer.close()
    await stack.stop()
    first, last = samples[0], samples[-1]
    # Flat: after the first minute (warm-up: pools, caches) RSS grows by
    # less than 10 % + 8 MiB, and fds and pending Deferreds by little more
    # than what one moment's traffic holds.
    grew = [
        name for name, a, b, slack in (
            ("RSS", first[0], last[0], first[0] * 0.1 + 8192),
            ("fds", first[1], last[1], 20),
            ("Deferreds", first[2], last[2], 200),
        ) if b - a > slack
    ]
    print(f"posted {posted['n']} ({posted['failed']} raised), processed {PROCESSED['n']}, "
          f"faults injected {sum(proxy.counts().values())} of {proxy.received} requests")
    print("GREW: " + ", ".join(grew) if grew else "FLAT")
    return 1 if grew else 0


def main(argv: list[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)

    async def go(reactor: Any) -> None:
        code = await soak(reactor, options)
        if code:
            raise SystemExit(code)

    react(lambda reactor: Deferred.fromCoroutine(go(reactor)))


if __name__ == "__main__":
    main()
