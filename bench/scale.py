"""
One daemon on many discovered queues with push: ``python -m bench.scale
'<json spec>'``, the driver of the benchmark's ``scale`` workload
(``python -m bench --only scale``).

It creates ``queues`` queues named ``PREFIX-00000``... on a real Zaqar
(the benchmark's server with the notifier pipeline and the WebSocket
transport), then starts ``twistd -n zaqar-listen --queue-pattern
'PREFIX-*' --push websocket --metrics ...`` as an operator would, with
L{bench.scale_handler} as its handler (each message it gets is one line of
a file), and reads everything from the outside:

* ``up_s``: from the daemon's start until its C{/metrics} shows every
  queue discovered and its push up;
* ``idle``: after ``settle`` seconds more, the requests the daemon sent
  to Zaqar in a ``window`` of seconds (the HTTP requests of
  C{txzaqar_request_duration_seconds_count}, by operation, and the
  WebSocket requests of C{txzaqar_push_requests_total}), per second;
* ``idle_memory_kib``: the daemon's VmRSS and VmHWM then (and
  ``up_memory_kib`` once every queue was up);
* ``scrape_ms``: how long each of ``scrapes`` scrapes of C{/metrics} took
  (gzipped, as Prometheus asks; ``scrape_bytes`` is the text's size),
  and ``VmRSS``/``VmHWM`` after them;
* ``probe_s``: for ``probes`` existing queues picked at random, the time
  from a post to the handler's line (push at this scale);
* ``new_s``: for ``new`` queues created one after another at random
  moments of the discovery cycle, the time from the queue's creation (and
  a post to it) to the handler's line: the goal is one discovery interval
  plus one second.

Every message posted must reach the handler once (``missing``,
``duplicates``).  The result is one JSON line.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import task, threads
from twisted.internet.defer import DeferredSemaphore, gatherResults

import txzaqar
from bench._common import run_driver
from txzaqar.testing.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def scrape(url: str) -> tuple[float, bytes]:
    """One scrape as Prometheus makes it (gzip asked for): the seconds it took and the text."""
    started = time.perf_counter()
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return time.perf_counter() - started, body


def read_metrics(body: bytes) -> dict[str, Any]:
    """What the scale run reads from a scrape: discovered queues, push up, requests sent."""
    found: dict[str, Any] = {"discovered": 0.0, "push_up": 0.0, "requests": {}, "push_requests": 0.0}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "txzaqar_subscriber_discovered_queues":
                found["discovered"] += sample.value
            elif sample.name == "txzaqar_subscriber_push_up":
                found["push_up"] += sample.value
            elif sample.name == "txzaqar_request_duration_seconds_count":
                key = sample.labels["operation"]
                found["requests"][key] = found["requests"].get(key, 0.0) + sample.value
            elif sample.name == "txzaqar_push_requests_total":
                found["push_requests"] += sample.value
    return found


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


class Deliveries:
    """The handler's file: one JSON line per message it got."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, list[float]] = {}
        self._offset = 0

    def read(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            got = json.loads(line)
            self.seen.setdefault(got["key"], []).append(got["t"])


async def sleep(reactor: Any, seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def wait_for(reactor: Any, condition: Any, timeout: float, what: str, daemon: subprocess.Popen,
                   every: float = 0.1) -> float:
    """Poll C{condition} every C{every} s; the seconds it took.  Raises when the daemon exits or time runs out."""
    started = time.monotonic()
    while True:
        if await condition():
            return time.monotonic() - started
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited ({daemon.returncode}) while waiting for {what}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        await sleep(reactor, every)


async def create_queues(client: Any, names: list[str], parallel: int = 16) -> None:
    semaphore = DeferredSemaphore(parallel)
    await gatherResults([semaphore.run(client.create_queue, name) for name in names], consumeErrors=True)


async def run(reactor: Any, spec: dict) -> dict:
    """One scale run (see the module); the result's keys are listed there."""
    rng = random.Random(spec.get("seed", 1))
    prefix, n, interval = spec["prefix"], spec["queues"], spec["discovery_interval"]
    client = txzaqar.connect(spec["url"], project_id=spec["project"], reactor=reactor)
    names = [f"{prefix}-{i:05d}" for i in range(n)]
    t0 = time.monotonic()
    await create_queues(client, names)
    created_s = time.monotonic() - t0
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    deliveries = Deliveries(work / "deliveries.jsonl")
    deliveries.path.touch()
    port = free_port()
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    args = [*TWISTD, "-n", "--pidfile=", "--logfile", str(work / "twistd.log"), "zaqar-listen",
            "--url", spec["url"], "--project-id", spec["project"], "--queue-pattern", f"{prefix}-*",
            "--handler", "bench.scale_handler:record", "--push", "websocket",
            "--websocket-url", spec["websocket_url"], "--metrics", f"tcp:{port}:interface=127.0.0.1",
            "--discovery-interval", str(interval), *spec.get("daemon_args", [])]
    env = {**os.environ, "BENCH_SCALE_DELIVERIES": str(deliveries.path),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    daemon = subprocess.Popen(args, cwd=work, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    started = time.monotonic()
    result: dict[str, Any] = {"queues": n, "created_s": created_s, "discovery_interval": interval}
    try:
        last: dict[str, Any] = {}

        async def all_up() -> bool:
            try:
                _, body = await threads.deferToThread(scrape, metrics_url)
            except OSError:
                return False
            last.update(read_metrics(body))
            return last["discovered"] >= n and last["push_up"] >= n

        result["up_s"] = await wait_for(reactor, all_up, spec.get("up_timeout", 900), "every queue up", daemon,
                                        every=2.0)
        result["up_memory_kib"] = memory_kib(daemon.pid)
        await sleep(reactor, spec["settle"])
        _, body = await threads.deferToThread(scrape, metrics_url)
        before, w0 = read_metrics(body), time.monotonic()
        await sleep(reactor, spec["window"])
        _, body = await threads.deferToThread(scrape, metrics_url)
        after, w1 = read_metrics(body), time.monotonic()
        window = w1 - w0
        by_operation = {op: (after["requests"].get(op, 0.0) - before["requests"].get(op, 0.0)) / window
                        for op in after["requests"]}
        by_operation = {op: rate for op, rate in sorted(by_operation.items()) if rate}
        push_rate = (after["push_requests"] - before["push_requests"]) / window
        result.update(idle_req_s=sum(by_operation.values()) + push_rate, idle_http_by_operation=by_operation,
                      idle_websocket_req_s=push_rate, window_s=window, idle_memory_kib=memory_kib(daemon.pid))
        timings = []
        for _ in range(spec["scrapes"]):
            took, body = await threads.deferToThread(scrape, metrics_url)
            timings.append(took * 1000)
        result.update(scrape_ms=timings, scrape_bytes=len(body), **memory_kib(daemon.pid))
        posted: dict[str, float] = {}
        probes = rng.sample(names, min(spec["probes"], n))
        for i, name in enumerate(probes):
            key = f"probe-{i}"
            posted[key] = time.time()
            await client.queue(name).post([{"body": {"key": key}, "ttl": 3600}])
            await wait_for(reactor, partial(_arrived, deliveries, key), 60, f"probe {key}", daemon)
        new: list[float] = []
        for i in range(spec["new"]):
            await sleep(reactor, rng.uniform(0, interval))
            key = f"new-{i}"
            queue = client.queue(f"{prefix}-new-{i}")
            posted[key] = time.time()
            await queue.create()
            await queue.post([{"body": {"key": key}, "ttl": 3600}])
            await wait_for(reactor, partial(_arrived, deliveries, key), 3 * interval + 60, f"new queue {key}",
                           daemon)
            new.append(deliveries.seen[key][0] - posted[key])
        result["probe_s"] = [deliveries.seen[f"probe-{i}"][0] - posted[f"probe-{i}"] for i in range(len(probes))]
        result["new_s"] = new
        await sleep(reactor, 2.0)  # a duplicate would show up by now
        deliveries.read()
        result["missing"] = sorted(set(posted) - set(deliveries.seen))
        result["duplicates"] = sorted(k for k, times in deliveries.seen.items() if len(times) > 1)
        result["strangers"] = sorted(set(deliveries.seen) - set(posted))
        result["seconds_total"] = time.monotonic() - started
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                await threads.deferToThread(daemon.wait, 120)
            except subprocess.TimeoutExpired:
                daemon.kill()
        result["daemon_exit"] = daemon.returncode
        result["log_tail"] = (work / "twistd.log").read_text()[-2000:] if (work / "twistd.log").exists() else ""
        await client.close()
    return result


async def _arrived(deliveries: Deliveries, key: str) -> bool:
    deliveries.read()
    return key in deliveries.seen


def summarize(result: dict) -> str:
    """One line for the terminal."""
    return (f"{result['queues']} queues: up in {result['up_s']:.0f} s, idle {result['idle_req_s']:.2f} req/s, "
            f"peak RSS {result['VmHWM'] / 1024:.0f} MiB, scrape {statistics.median(result['scrape_ms']):.0f} ms, "
            f"new queue consumed in {max(result['new_s'], default=0):.1f} s (interval "
            f"{result['discovery_interval']:.0f} s)")


def main() -> None:
    run_driver({"scale": run})


if __name__ == "__main__":
    main()
