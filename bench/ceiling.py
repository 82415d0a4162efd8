"""
The ceiling: a minimal concurrent treq driver, not a client.

Raw HTTP with a persistent connection pool, ``inflight`` requests at once,
bulk deletes (``DELETE .../messages?ids=``), no validation, no retries, no
error mapping.  What it reaches is what the server can do on this machine;
the client is measured against it.  Also used (untimed) to fill queues.

``python -m bench.ceiling '<json spec>'`` prints one JSON object as its last
line.
"""

from __future__ import annotations

import json
import sys
import time
import uuid

import treq
from treq.client import HTTPClient
from twisted.internet import task
from twisted.internet.defer import Deferred, gatherResults
from twisted.web.client import Agent, HTTPConnectionPool

from bench._common import body, cpu


class Raw:
    def __init__(self, reactor, spec: dict) -> None:
        persistent = spec.get("persistent", True)
        self.pool = HTTPConnectionPool(reactor, persistent=persistent)
        self.pool.maxPersistentPerHost = max(2, spec.get("inflight", 8))
        self.pool.cachedConnectionTimeout = 1.5  # type: ignore[assignment]  # gunicorn drops idle ones after 2 s
        self.pool.retryAutomatically = False
        self.http = HTTPClient(Agent(reactor, pool=self.pool))
        self.base = f"{spec['url']}/v2/queues/{spec['queue']}"
        self.headers: dict[bytes | str, list[bytes | str]] = {
            b"Client-ID": [str(uuid.uuid4()).encode()],
            b"X-Project-ID": [spec["project"].encode()],
            b"Content-Type": [b"application/json"],
        }
        self.requests = 0

    async def call(self, method: str, url: str, data: bytes | None = None) -> tuple[int, bytes]:
        self.requests += 1
        response = await self.http.request(method, url, data=data, headers=self.headers)
        content = await treq.content(response)
        if response.code >= 300:
            raise RuntimeError(f"{method} {url} -> {response.code}: {content[:200]!r}")
        return response.code, content


async def post(reactor, spec: dict) -> dict:
    raw = Raw(reactor, spec)
    n, per, inflight = spec["n"], spec["per_request"], spec["inflight"]
    payloads = [
        json.dumps({"messages": [body(i) for i in range(s, min(n, s + per))]}).encode() for s in range(0, n, per)
    ]
    url = raw.base + "/messages"
    it = iter(payloads)

    async def worker() -> None:
        for data in it:
            await raw.call("POST", url, data)

    c0, t0 = cpu(), time.perf_counter()
    await gatherResults([Deferred.fromCoroutine(worker()) for _ in range(inflight)])
    t1, c1 = time.perf_counter(), cpu()
    await raw.pool.closeCachedConnections()
    return {"messages": n, "requests": raw.requests, "seconds": t1 - t0, "cpu": c1 - c0}


async def consume(reactor, spec: dict) -> dict:
    raw = Raw(reactor, spec)
    limit, inflight = spec.get("limit", 20), spec["inflight"]
    claim_url = f"{raw.base}/claims?limit={limit}"
    claim_body = json.dumps({"ttl": 60, "grace": 60}).encode()
    consumed = 0
    budget = spec["max_requests"]

    async def worker() -> None:
        nonlocal consumed
        while raw.requests < budget:
            code, content = await raw.call("POST", claim_url, claim_body)
            if code == 204:
                return
            ids = [m["id"] for m in json.loads(content)["messages"]]
            await raw.call("DELETE", f"{raw.base}/messages?ids={','.join(ids)}")
            consumed += len(ids)

    c0, t0 = cpu(), time.perf_counter()
    await gatherResults([Deferred.fromCoroutine(worker()) for _ in range(inflight)])
    t1, c1 = time.perf_counter(), cpu()
    await raw.pool.closeCachedConnections()
    return {"messages": consumed, "requests": raw.requests, "seconds": t1 - t0, "cpu": c1 - c0}


async def run(reactor, spec: dict) -> None:
    op = {"post": post, "fill": post, "consume": consume}[spec["op"]]
    if spec["op"] == "fill":
        spec = {"per_request": 20, "inflight": 8, **spec}
    result = await op(reactor, spec)
    print(json.dumps(result), flush=True)


def main() -> None:
    spec = json.loads(sys.argv[1])
    task.react(lambda reactor: Deferred.fromCoroutine(run(reactor, spec)))


if __name__ == "__main__":
    main()
