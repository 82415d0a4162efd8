"""
The cost of a scrape of C{/metrics} to the reactor: ``python -m bench.scrape
'{"op": "scrape", "queues": 1000, "scrapes": 20}'``, the driver of the
benchmark's ``scrape`` workload (``python -m bench --only scrape``).

A Subscriber on ``queues`` queues of the in-memory Zaqar (driven by a
C{Clock} of its own, so its polls never run on the reactor) delivers one
message on each queue; then the daemon's metrics service
(L{txzaqar.ops.health.metrics_service}) serves its C{/metrics} on a
loopback port of the real reactor, and a thread scrapes it ``scrapes``
times over HTTP while a 1 ms C{LoopingCall} on the reactor notes the
longest gap between two of its ticks: how long the reactor was held.
The same ticker without a scrape gives the machine's own noise.

The result (one JSON line): ``held_ms`` (each scrape's longest gap, ms),
``idle_ms`` (the longest gap of as long a time without a scrape),
``bytes`` (the size of a scrape) and ``lines``.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from twisted.internet import task, threads
from twisted.internet.task import Clock

from bench._common import run_driver
from txzaqar.ops.health import metrics_service
from txzaqar.testing import memory_subscriber
from txzaqar.testing.servers import free_port


class Ticker:
    """A 1 ms C{LoopingCall} on the reactor that notes the longest gap between its ticks."""

    def __init__(self, reactor: Any) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0
        self.loop = task.LoopingCall(self.tick)
        self.loop.clock = reactor

    def tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


async def scrape(reactor: Any, spec: dict) -> dict:
    """The longest time the reactor is held during each of ``scrapes`` scrapes (see the module)."""
    clock = Clock()
    subscriber, client, fake = memory_subscriber(clock=clock, poll_interval=1.0, max_interval=1.0,
                                                 concurrency=50, batch=10)
    names = [f"scrape-{i}" for i in range(spec["queues"])]
    for name in names:
        subscriber.subscribe(name, lambda message: None)
        client.queue(name).post([{"body": {"n": 1}}])
    subscriber.metrics  # noqa: B018 (made before the deliveries, so it observes them)
    subscriber.startService()
    for _ in range(5):
        clock.advance(1.0)
    port = free_port()
    service = metrics_service(reactor, f"tcp:{port}:interface=127.0.0.1", subscriber)
    service.startService()
    url = f"http://127.0.0.1:{port}/metrics"
    ticker = Ticker(reactor)
    ticker.loop.start(0.001)
    body = await threads.deferToThread(fetch, url)  # a first scrape: warm
    held, idle = [], []
    for _ in range(spec["scrapes"]):
        ticker.reset()
        started = time.perf_counter()
        body = await threads.deferToThread(fetch, url)
        took = time.perf_counter() - started
        held.append(ticker.longest * 1000)
        ticker.reset()
        await task.deferLater(reactor, took, lambda: None)
        idle.append(ticker.longest * 1000)
    ticker.loop.stop()
    await service.stopService()
    await subscriber.stopService()
    return {"queues": spec["queues"], "held_ms": held, "idle_ms": idle, "bytes": len(body),
            "lines": body.count(b"\n"), "delivered": subscriber.stats["acked"]}


def main() -> None:
    run_driver({"scrape": scrape})


if __name__ == "__main__":
    main()
