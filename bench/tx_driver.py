"""
The txzaqar side of the benchmark: ``python -m bench.tx_driver '<json spec>'``.

Every workload runs in a fresh process (so its CPU time and peak RSS are its
own) and prints one JSON object as its last line (``READY`` first for the
workloads that the orchestrator feeds while they run).  Every request the
client sends is counted (and time-stamped) by wrapping
``Connection.request``.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults

import txzaqar
from bench._common import Arrivals, body, cpu, finish, peak_rss_kib, rss_kib, run_driver
from txzaqar.subscriber import Subscriber


def connect(reactor: Any, spec: dict, claims: list[list[float]] | None = None,
            **options: Any) -> tuple[txzaqar.Client, list[float]]:
    """
    A client for the spec's server whose requests are time-stamped (the
    returned list); with ``claims``, every claim request also appends
    ``[sent, answered]`` to it (``answered`` 0 until it has).
    """
    client = txzaqar.connect(spec["url"], project_id=spec["project"], reactor=reactor, **options)
    stamps: list[float] = []
    connection = client.connection
    original = connection.request

    def counting(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        stamps.append(time.time())
        d = original(method, path, *args, **kwargs)
        if claims is not None and method == "POST" and path.endswith("/claims"):
            entry = [stamps[-1], 0.0]
            claims.append(entry)

            def answered(result: Any) -> Any:
                entry[1] = time.time()
                return result

            d.addBoth(answered)
        return d

    connection.request = counting  # type: ignore[method-assign]
    return client, stamps


def delivery(t_posted: float, claims: list[list[float]], wakes: list[float] | None = None) -> dict:
    """
    What the latency split needs about one message delivered now: its
    post stamp, now, the claim that brought it (the last one answered: a
    callback runs in the same reactor turn as its claim's answer) and the
    last wake-up before that claim was sent.
    """
    now = time.time()
    claim = next((c for c in reversed(claims) if c[1] and c[1] <= now), None)
    wake = None
    if wakes and claim is not None:
        wake = next((w for w in reversed(wakes) if w <= claim[0]), None)
    return {"t": t_posted, "cb": now, "claim": claim, "wake": wake}


async def post(reactor: Any, spec: dict) -> dict:
    client, stamps = connect(reactor, spec)
    queue = client.queue(spec["queue"])
    n, per = spec["n"], spec["per_request"]
    batches = [[body(i) for i in range(s, min(n, s + per))] for s in range(0, n, per)]
    sem = DeferredSemaphore(spec["inflight"])
    c0, t0 = cpu(), time.perf_counter()
    await gatherResults([sem.run(queue.post, b) for b in batches])
    t1, c1 = time.perf_counter(), cpu()
    await client.close()
    return {"messages": n, "requests": len(stamps), "seconds": t1 - t0, "cpu": c1 - c0}


async def consume(reactor: Any, spec: dict) -> dict:
    """A Subscriber with a no-op callback drains ``n`` messages; timed until every one is deleted."""
    client, stamps = connect(reactor, spec)
    subscriber = Subscriber(client, clock=reactor, **spec.get("options", {}))
    n = spec["n"]
    seen: set[str] = set()
    callbacks = 0
    done: Deferred[None] = Deferred()

    def callback(message: Any) -> None:
        nonlocal callbacks
        callbacks += 1
        seen.add(message.id)
        if len(seen) >= n:
            finish(done)

    subscriber.subscribe(spec["queue"], callback)
    timeout = reactor.callLater(spec["timeout"], finish, done)
    c0, t0 = cpu(), time.perf_counter()
    subscriber.startService()
    await done
    await subscriber.stopService()  # flushes the last acknowledgements
    t1, c1 = time.perf_counter(), cpu()
    if timeout.active():
        timeout.cancel()
    return {
        "messages": subscriber.stats["acked"], "delivered": len(seen), "callbacks": callbacks,
        "requests": len(stamps),
        "seconds": t1 - t0, "cpu": c1 - c0, "stats": dict(subscriber.stats),
    }


async def latency(reactor: Any, spec: dict) -> dict:
    """
    Post->callback latency: the orchestrator posts ``{"t": time.time(), "n":
    i}`` after READY; done once ``expect`` different messages came, or at
    the deadline.
    """
    claims: list[list[float]] = []
    client, stamps = connect(reactor, spec, claims)
    subscriber = Subscriber(client, clock=reactor, **spec.get("options", {}))
    latencies: list[float] = []
    deliveries: list[dict] = []
    arrivals = Arrivals(spec["expect"], spec.get("drop_first", False))

    def callback(message: Any) -> None:
        now = time.time()
        if arrivals.arrived(message.body.get("n")):
            latencies.append(now - message.body["t"])
            deliveries.append({**delivery(message.body["t"], claims), "n": message.body.get("n")})

    subscriber.subscribe(spec["queue"], callback)
    timeout = reactor.callLater(spec["deadline"], finish, arrivals.done)
    subscriber.startService()
    print("READY", flush=True)
    await arrivals.done
    if timeout.active():
        timeout.cancel()
    await subscriber.stopService()
    return {"latencies": latencies, "requests": stamps, "deliveries": deliveries,
            "claims": claims}


async def memory(reactor: Any, spec: dict) -> dict:
    """
    Peak RSS of a Subscriber with a slow callback (``callback_delay`` s per
    message) for ``duration`` s or until ``n`` messages are done; with
    ``n = 0`` on an empty queue it is the idle Subscriber.
    """
    client, stamps = connect(reactor, spec)
    subscriber = Subscriber(client, clock=reactor, **spec.get("options", {}))
    delay = spec["callback_delay"]
    done: Deferred[None] = Deferred()
    processed = 0
    samples: list[int] = []

    def callback(message: Any) -> Deferred[None]:
        def finished(_: Any) -> None:
            nonlocal processed
            processed += 1
            if spec["n"] and processed >= spec["n"]:
                finish(done)

        return task.deferLater(reactor, delay, lambda: None).addCallback(finished)

    def sample() -> None:
        samples.append(rss_kib())

    sampler = task.LoopingCall(sample)
    sampler.clock = reactor
    sampler.start(0.5)
    subscriber.subscribe(spec["queue"], callback)
    timeout = reactor.callLater(spec["duration"], finish, done)
    c0, t0 = cpu(), time.perf_counter()
    subscriber.startService()
    await done
    t1, c1 = time.perf_counter(), cpu()
    if timeout.active():
        timeout.cancel()
    sampler.stop()
    max_in_flight = subscriber.concurrency
    await subscriber.stopService()
    return {
        "processed": processed, "seconds": t1 - t0, "cpu": c1 - c0, "peak_rss_kib": peak_rss_kib(),
        "max_sampled_rss_kib": max(samples or [0]), "rss_samples_kib": samples,
        "requests": len(stamps), "concurrency": max_in_flight, "stats": dict(subscriber.stats),
    }


async def many(reactor: Any, spec: dict) -> dict:
    """A Subscriber on ``queues`` idle queues: requests it sends in a window after ``settle`` s."""
    client, stamps = connect(reactor, spec)
    subscriber = Subscriber(client, clock=reactor, **spec.get("options", {}))
    for i in range(spec["queues"]):
        subscriber.subscribe(f"{spec['queue']}-{i}", lambda message: None)
    subscriber.startService()
    t_start = time.time()
    await task.deferLater(reactor, spec["settle"], lambda: None)
    c0, w0 = cpu(), time.time()
    await task.deferLater(reactor, spec["window"], lambda: None)
    c1, w1 = cpu(), time.time()
    await subscriber.stopService()
    in_window = sum(1 for s in stamps if w0 <= s < w1)
    return {
        "queues": spec["queues"], "requests_total": len(stamps), "requests_in_window": in_window,
        "window": w1 - w0, "requests_per_s": in_window / (w1 - w0), "cpu": c1 - c0,
        "first_second_requests": sum(1 for s in stamps if s < t_start + 1.0),
        "stats": dict(subscriber.stats),
    }


OPS = {"post": post, "consume": consume, "latency": latency, "memory": memory, "many": many}


def main() -> None:
    run_driver(OPS)


if __name__ == "__main__":
    main()
