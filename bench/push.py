"""
The Subscriber with push: ``python -m bench.push '<json spec>'``.

The real library: ``client.subscriber(push="websocket")`` on a client made
with ``txzaqar.connect(..., websocket_url=...)``, or a
``txzaqar.push.WebhookPush`` listening on a free loopback port.  Like
``bench.tx_driver`` every HTTP request is time-stamped; the Subscriber's
``wake`` is wrapped to time-stamp each wake-up (what a notification
becomes), so post->callback splits into post->wake-up, wake-up->claim,
the claim and the callback.

* ``op: "latency"``: one queue; ``READY`` once push is up for it, then the
  orchestrator posts ``{"t": time.time()}`` messages;
* ``op: "many"``: ``queues`` idle queues; the requests sent in a
  ``window`` after ``settle`` seconds, and how many queues had push up.

It prints one JSON object as its last line.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.internet import task

from bench._common import Arrivals, cpu, finish, run_driver
from bench.tx_driver import connect, delivery
from txzaqar.push import WebhookPush
from txzaqar.subscriber import Subscriber


def subscriber(reactor: Any, spec: dict, claims: list[list[float]] | None = None
               ) -> tuple[Subscriber, list[float], list[float]]:
    """The Subscriber with the spec's push source; its request stamps and its wake-up stamps."""
    options = dict(spec.get("options", {}))
    if spec["push"] == "websocket":
        client, stamps = connect(reactor, spec, claims, websocket_url=spec["websocket_url"])
        sub = client.subscriber(push="websocket", clock=reactor, **options)
    elif spec["push"] == "webhook":
        client, stamps = connect(reactor, spec, claims)
        source = WebhookPush(client, "http://127.0.0.1:0/hook", reactor, listen="tcp:0:interface=127.0.0.1")
        sub = Subscriber(client, clock=reactor, push=source, **options)
    else:
        raise ValueError(f"unknown push {spec['push']!r}")
    wakes: list[float] = []
    wake = sub.wake

    def stamping(queue_name: str) -> None:
        wakes.append(time.time())
        wake(queue_name)

    sub.wake = stamping
    return sub, stamps, wakes


async def wait_up(reactor: Any, sub: Subscriber, queues: int, timeout: float) -> float:
    """Wait until push is up for ``queues`` queues (or ``timeout``); the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if sum(1 for state in sub.push_states().values() if state == "up") >= queues:
            break
        await task.deferLater(reactor, 0.05, lambda: None)
    return time.monotonic() - t0


async def latency(reactor: Any, spec: dict) -> dict:
    """Post->callback latency with push; ``READY`` once push is up for the queue."""
    claims: list[list[float]] = []
    sub, stamps, wakes = subscriber(reactor, spec, claims)
    latencies: list[float] = []
    deliveries: list[dict] = []
    arrivals = Arrivals(spec["expect"], spec.get("drop_first", False))

    def callback(message: Any) -> None:
        now = time.time()
        if arrivals.arrived(message.body.get("n")):
            latencies.append(now - message.body["t"])
            deliveries.append({**delivery(message.body["t"], claims, wakes), "n": message.body.get("n")})

    sub.subscribe(spec["queue"], callback)
    sub.startService()
    up_after = await wait_up(reactor, sub, 1, 30.0)
    states = sub.push_states()
    timeout = reactor.callLater(spec["deadline"], finish, arrivals.done)
    print("READY", flush=True)
    await arrivals.done
    if timeout.active():
        timeout.cancel()
    stats = dict(sub.stats)
    await sub.stopService()
    return {"latencies": latencies, "requests": stamps, "deliveries": deliveries, "claims": claims,
            "wakes": len(wakes), "wake_stamps": wakes, "push_up_after": up_after, "push_states": states,
            "stats": stats}


async def many(reactor: Any, spec: dict) -> dict:
    """A Subscriber with push on ``queues`` idle queues: requests it sends in a window after ``settle`` s."""
    sub, stamps, wakes = subscriber(reactor, spec)
    for i in range(spec["queues"]):
        sub.subscribe(f"{spec['queue']}-{i}", lambda message: None)
    t_start = time.time()
    sub.startService()
    up_after = await wait_up(reactor, sub, spec["queues"], spec["settle"])
    rest = spec["settle"] - up_after
    if rest > 0:
        await task.deferLater(reactor, rest, lambda: None)
    c0, w0 = cpu(), time.time()
    await task.deferLater(reactor, spec["window"], lambda: None)
    c1, w1 = cpu(), time.time()
    up = sum(1 for state in sub.push_states().values() if state == "up")
    stats = dict(sub.stats)
    await sub.stopService()
    in_window = sum(1 for s in stamps if w0 <= s < w1)
    return {
        "queues": spec["queues"], "requests_total": len(stamps), "requests_in_window": in_window,
        "window": w1 - w0, "requests_per_s": in_window / (w1 - w0), "cpu": c1 - c0,
        "first_second_requests": sum(1 for s in stamps if s < t_start + 1.0),
        "push_up_after": up_after, "push_up_queues": up, "stats": stats,
    }


OPS = {"latency": latency, "many": many}


def main() -> None:
    run_driver(OPS)


if __name__ == "__main__":
    main()
