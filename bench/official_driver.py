"""
The python-zaqarclient side of the benchmark.

Runs in the benchmark's own venv (never the project's), as a subprocess of
``bench.run``: ``python official_driver.py '<json spec>'``.  It prints one
JSON object as its last line of output (and ``READY`` first, for the
latency workload).  Only the standard library and zaqarclient are used.

The loops are the ones the official documentation shows:

* post: ``queue.post(list_of_messages)``, in ``threads`` threads (a user
  scales a blocking client with threads; the benchmark gives it as many as
  txzaqar has requests in flight), each with a client of its own, taking
  the next batch from one shared list;
* consume, documented: ``for m in queue.claim(ttl, grace, limit): m.delete()``;
* consume, bulk: ``queue.claim(...)`` then ``queue.delete_messages(*ids)``;
  both in ``threads`` threads (a sweep: the orchestrator picks the best);
* polling: claim; when nothing came back, ``time.sleep(interval)``.

A thread that raises makes the driver exit non-zero (the orchestrator
counts a failed driver as a broken run).

The client needs ``ttl`` *and* ``grace`` on every claim (it sends ``null``
for an omitted one, and the server rejects that).
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator

from zaqarclient.queues import client as zclient

CLAIM_TTL = 60
CLAIM_GRACE = 60


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def body(i: int) -> dict:
    return {"body": {"n": i, "data": "x" * 64}, "ttl": 3600}


def make_queue(spec: dict):
    conf = {"auth_opts": {"backend": "noauth", "options": {"project_id": spec["project"]}}}
    client = zclient.Client(spec["url"], version=2, conf=conf)
    return client.queue(spec["queue"], auto_create=False)


def in_threads(count: int, work: Callable[[], None]) -> float:
    """Run ``work`` in ``count`` threads at once; the wall time until all are done (re-raises the first error)."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as e:  # re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=guarded, daemon=True) for _ in range(count)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return elapsed


def post(spec: dict) -> dict:
    n, per, count = spec["n"], spec["per_request"], spec.get("threads", 1)
    queues = [make_queue(spec) for _ in range(count)]  # one client per thread, made before the clock
    batches: Iterator[list[dict]] = iter(
        [[body(i) for i in range(s, min(n, s + per))] for s in range(0, n, per)])
    lock = threading.Lock()
    requests = 0

    def next_batch() -> list[dict] | None:
        nonlocal requests
        with lock:
            batch = next(batches, None)
            if batch is not None:
                requests += 1
            return batch

    def worker() -> None:
        queue = queues.pop()
        while (batch := next_batch()) is not None:
            queue.post(batch)

    c0 = cpu()
    seconds = in_threads(count, worker)
    c1 = cpu()
    return {"messages": n, "requests": requests, "seconds": seconds, "cpu": c1 - c0, "threads": count}


def consume(spec: dict) -> dict:
    """
    ``threads`` threads, each a loop of its own: claim ``limit``, delete each
    message (documented) or all of them at once (bulk), until a claim comes
    back empty or the shared request budget is spent.
    """
    limit, bulk, count = spec.get("limit", 10), spec["mode"] == "bulk", spec.get("threads", 1)
    queues = [make_queue(spec) for _ in range(count)]
    lock = threading.Lock()
    consumed = requests = 0

    def spend(k: int) -> bool:
        nonlocal requests
        with lock:
            requests += k
            return requests <= spec["max_requests"]

    def worker() -> None:
        nonlocal consumed
        queue = queues.pop()
        while spend(1):
            messages = list(queue.claim(ttl=CLAIM_TTL, grace=CLAIM_GRACE, limit=limit))
            if not messages:
                return
            if bulk:
                spend(1)
                queue.delete_messages(*[m.id for m in messages])
            else:
                for m in messages:
                    spend(1)
                    m.delete()
            with lock:
                consumed += len(messages)

    c0 = cpu()
    seconds = in_threads(count, worker)
    c1 = cpu()
    return {"messages": consumed, "requests": requests, "seconds": seconds, "cpu": c1 - c0,
            "threads": count, "limit": limit}


def poll_latency(spec: dict) -> dict:
    """Claim every ``interval`` s while empty; record post->claim latency from the body's timestamp."""
    queue = make_queue(spec)
    interval, expect = spec["interval"], spec["expect"]
    deadline = time.time() + spec["deadline"]
    latencies: list[float] = []
    requests: list[float] = []
    print("READY", flush=True)
    deliveries: list[dict] = []
    claims: list[list[float]] = []
    arrived: set = set()  # the messages got, by body["n"]: done once every one came
    while len(arrived) < expect and time.time() < deadline:
        sent = time.time()
        requests.append(sent)
        messages = list(queue.claim(ttl=CLAIM_TTL, grace=CLAIM_GRACE, limit=10))
        now = time.time()
        claims.append([sent, now])
        for m in messages:
            latencies.append(now - m.body["t"])
            deliveries.append({"t": m.body["t"], "cb": now, "claim": [sent, now], "wake": None,
                               "n": m.body.get("n")})
            arrived.add(m.body.get("n"))
        for m in messages:
            requests.append(time.time())
            m.delete()
        if not messages and interval:
            time.sleep(interval)
    return {"latencies": latencies, "requests": requests, "deliveries": deliveries, "claims": claims}


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = {"post": post, "consume": consume, "poll_latency": poll_latency}[spec["op"]](spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
