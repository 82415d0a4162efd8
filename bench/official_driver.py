"""
The python-zaqarclient side of the benchmark.

Runs in the benchmark's own venv (never the project's), as a subprocess of
``bench.run``: ``python official_driver.py '<json spec>'``.  It prints one
JSON object as its last line of output (and ``READY`` first, for the
latency workload).  Only the standard library and zaqarclient are used.

The loops are the ones the official documentation shows:

* post: ``queue.post(list_of_messages)``, one request at a time;
* consume, documented: ``for m in queue.claim(ttl, grace, limit): m.delete()``;
* consume, best: ``queue.claim(...)`` then ``queue.delete_messages(*ids)``;
* polling: claim; when nothing came back, ``time.sleep(interval)``.

The client needs ``ttl`` *and* ``grace`` on every claim (it sends ``null``
for an omitted one, and the server rejects that).
"""

from __future__ import annotations

import json
import resource
import sys
import time

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


def post(spec: dict) -> dict:
    queue = make_queue(spec)
    n, per = spec["n"], spec["per_request"]
    batches = [[body(i) for i in range(s, min(n, s + per))] for s in range(0, n, per)]
    c0, t0 = cpu(), time.perf_counter()
    for batch in batches:
        queue.post(batch)
    t1, c1 = time.perf_counter(), cpu()
    return {"messages": n, "requests": len(batches), "seconds": t1 - t0, "cpu": c1 - c0}


def consume(spec: dict) -> dict:
    queue = make_queue(spec)
    limit, bulk = spec.get("limit", 10), spec["mode"] == "bulk"
    consumed = requests = 0
    c0, t0 = cpu(), time.perf_counter()
    while requests < spec["max_requests"]:
        claim = queue.claim(ttl=CLAIM_TTL, grace=CLAIM_GRACE, limit=limit)
        requests += 1
        messages = list(claim)
        if not messages:
            break
        if bulk:
            queue.delete_messages(*[m.id for m in messages])
            requests += 1
        else:
            for m in messages:
                m.delete()
                requests += 1
        consumed += len(messages)
    t1, c1 = time.perf_counter(), cpu()
    return {"messages": consumed, "requests": requests, "seconds": t1 - t0, "cpu": c1 - c0}


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
