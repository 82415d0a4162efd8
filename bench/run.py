"""
The benchmark's one entry point: ``python -m bench [--smoke] [options]``.

It starts its own Redis and Zaqar servers through :mod:`txzaqar.testing`
(gunicorn with gthread workers and keep-alive, and the built-in
``zaqar-server``), builds the benchmark venv with python-zaqarclient (and
matplotlib), and runs every workload with every client side by side,
interleaved, ``--reps`` times.  Each client runs in its own process, so
process CPU time and peak RSS are its own.  It prints a table of
min/median/max and of the ratio to the reference client (the median of the
per-repetition ratios: every ratio compares measurements taken seconds
apart), checks the goals of issue 6 (and issue 20's scrape cost, measured
by L{bench.scrape} on the in-memory Zaqar), and writes JSON (and a PNG plot) under
``bench/results/``.

It is a gate (L{bench.verdict}): it exits 3 when a run lost, missed or
duplicated a message or a driver failed, and 4 when a full run was correct
but a goal was NOT MET; a smoke run judges correctness only.  The hidden
``--break-delivery`` switch makes every Subscriber latency driver drop the
first message it gets (acknowledged, never recorded), so that
``python -m bench.gate_check`` can show the gate fails.

Everything is bounded: request loops have a request budget, drivers a
timeout, and only loopback servers started here are contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import push_goals, summary, timing, verdict
from bench._venv import ensure_bench_venv, has_matplotlib
from bench.drivers import PUSH_SERVER, DriverFailed, Drivers, PostFailed, group_cpu, proc_cpu, say
from bench.run_scale import SCALE_PAGE, ScaleWorkloads
from bench.stats import nearest_rank
from txzaqar.testing.servers import RedisServer, ZaqarServer, ensure_server_venv, stop_all

BENCH = Path(__file__).resolve().parent

#: Sizes of the full run and of the seconds-long smoke run (CI).
FULL: dict[str, Any] = {
    "post": {"post1": (1, 2000), "post10": (10, 10000), "post20": (20, 20000)},
    "consume": 5000,
    # 60 messages: a p50 of 25 wanders by +-10 ms between repetitions (its standard error)
    "latency": {"expect": 60, "gap": (0.3, 1.2), "idle": 15.0},
    "tradeoff": True,
    "memory": {"backlog": 100_000, "duration": 45.0, "callback_delay": 0.01},
    "many": {"queues": 1000, "settle": 35.0, "window": 60.0},
    # the official consumer's threads and the ceiling's concurrent loops: the best of each is the anchor
    "sweep": {"threads": [1, 2, 4, 8], "loops": [4, 8, 16, 32]},
    # bench.scrape: scrapes of /metrics of a Subscriber on the in-memory Zaqar (no server)
    "scrape": {"queues": 1000, "scrapes": 20},
    # bench.scale: one daemon on 10,000 queues it discovers, with WebSocket push
    "scale": {"queues": 10_000, "discovery_interval": 30.0, "settle": 60.0, "window": 120.0, "scrapes": 5,
              "probes": 10, "new": 3},
}
SMOKE: dict[str, Any] = {
    "post": {"post1": (1, 40), "post10": (10, 200), "post20": (20, 400)},
    "consume": 200,
    "latency": {"expect": 3, "gap": (0.05, 0.3), "idle": 1.0},
    "tradeoff": False,
    "memory": {"backlog": 400, "duration": 2.0, "callback_delay": 0.01},
    "many": {"queues": 20, "settle": 2.0, "window": 2.0},
    "sweep": {"threads": [2], "loops": [8]},
    "scrape": {"queues": 20, "scrapes": 3},
    "scale": {"queues": 20, "discovery_interval": 2.0, "settle": 1.0, "window": 2.0, "scrapes": 2,
              "probes": 2, "new": 1},
}

#: txzaqar requests in flight for posting; the official client posts in as many threads.
TX_INFLIGHT = {"gunicorn": 8, "builtin": 4}
#: Subscriber options for the tuned throughput row (no-op callback).
TX_CONSUME_OPTIONS = {"batch": 20, "concurrency": 80, "claims_in_flight": 4}
#: The consume rows of the Subscriber: tuned, and at its defaults (batch 10, concurrency 10,
#: claims_in_flight 1) beside the official documented loop at its defaults.
SUBSCRIBER_TUNED, SUBSCRIBER_DEFAULTS = summary.SUBSCRIBER_TUNED, summary.SUBSCRIBER_DEFAULTS
#: The official client's documented loop as its documentation shows it: one thread, the
#: server's default claim (10 messages).
OFFICIAL_DOCUMENTED = summary.OFFICIAL_DOCUMENTED
DOCUMENTED_LIMIT = 10
#: The largest claim Zaqar allows by default (C{max_messages_per_claim_or_pop}); used only when
#: the server's own limit cannot be read from its answer to a larger claim (L{Bench.max_claim}).
DEFAULT_MAX_CLAIM = 20
#: Latency variants: (label, kind, settings).
LATENCY_VARIANTS = [
    ("official poll 1s", "official", {"interval": 1.0}),
    ("official poll 0.1s", "official", {"interval": 0.1}),
    ("txzaqar Subscriber defaults", "tx", {}),
    ("txzaqar Subscriber poll 0.1s", "tx", {"poll_interval": 0.1, "max_interval": 0.1}),
    # The Subscriber's jitter shortens every delay by 0-25 % (12.5 % on
    # average), so 0.115 s polls as often as the official loop's 0.1 s sleep.
    ("txzaqar Subscriber poll 0.115s", "tx", {"poll_interval": 0.115, "max_interval": 0.115}),
    *push_goals.LATENCY_VARIANTS,
]
TRADEOFF_VARIANTS = [
    ("txzaqar Subscriber poll 0.05s", "tx", {"poll_interval": 0.05, "max_interval": 0.05}),
    ("txzaqar Subscriber poll 0.2s max 2s", "tx", {"poll_interval": 0.2, "max_interval": 2.0}),
    ("txzaqar Subscriber poll 0.5s max 5s", "tx", {"poll_interval": 0.5, "max_interval": 5.0}),
]


#: The latency drivers C{--break-delivery} breaks: the Subscriber's (polling and push).
BREAKABLE = ("tx", "push")
#: The workloads that run on the plain servers.
PLAIN_WORKLOADS = {"post", "consume", "memory"}
#: The workloads that run on L{PUSH_SERVER} (the scrape cost runs on the in-memory Zaqar: no server).
PUSH_WORKLOADS = {"latency", "tradeoff", "many", "scale"}


# ---------------------------------------------------------------------------
# the consume rows
# ---------------------------------------------------------------------------


def max_claim_in(answer: str) -> int | None:
    """
    The largest claim a Zaqar refusal names ("Limit must be at least 1 and
    may not be greater than 20."); C{None} when it names none.
    """
    match = re.search(r"may not be greater than (\d+)", answer)
    return int(match.group(1)) if match else None


def official_label(mode: str, threads: int, limit: int) -> str:
    """The row of the official C{mode} loop ("documented" or "bulk") in C{threads} threads, claims of C{limit}."""
    return f"official {mode} {threads} thread{'s' if threads > 1 else ''} claim {limit}"


def ceiling_label(loops: int) -> str:
    """The row of the ceiling with C{loops} concurrent claim-and-bulk-delete loops."""
    return f"ceiling {loops} loops"


def consume_config(variant: str, inflight: int) -> dict[str, Any]:
    """
    How to run the consume row C{variant}: C{{"kind": "official", "mode",
    "threads", "limit"}}, C{{"kind": "ceiling", "loops"}} or C{{"kind":
    "tx", "options"}}.  A bare "official documented" or "official bulk" is
    one thread with claims of L{DOCUMENTED_LIMIT}; a bare "ceiling" runs
    C{inflight} loops.
    """
    official = re.fullmatch(r"official (documented|bulk)(?: (\d+) threads? claim (\d+))?", variant)
    if official:
        mode, threads, limit = official.groups()
        return {"kind": "official", "mode": mode, "threads": int(threads or 1),
                "limit": int(limit or DOCUMENTED_LIMIT)}
    ceiling = re.fullmatch(r"ceiling(?: (\d+) loops)?", variant)
    if ceiling:
        return {"kind": "ceiling", "loops": int(ceiling.group(1) or inflight)}
    if variant == SUBSCRIBER_DEFAULTS:
        return {"kind": "tx", "options": {}}
    if variant.startswith("txzaqar Subscriber"):
        return {"kind": "tx", "options": TX_CONSUME_OPTIONS}
    raise ValueError(f"unknown consume row {variant!r}")


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------


class Bench(ScaleWorkloads):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes: dict[str, Any] = SMOKE if args.smoke else FULL
        if args.latency_messages:
            self.sizes = {**self.sizes, "latency": {**self.sizes["latency"], "expect": args.latency_messages}}
        self.run_id = uuid.uuid4().hex[:6]
        self.project = f"bench-{self.run_id}"
        self.records: list[dict] = []
        self.problems: list[verdict.Problem] = []
        self.extra: dict[str, Any] = defaultdict(list)
        self.servers: dict[str, ZaqarServer] = {}
        self.drivers: Drivers | None = None
        self.limits: dict[str, int] = {}  # server -> the largest claim it allows
        self.budget_factor = 4  # request budgets: 4x what the work needs

    # -- helpers ------------------------------------------------------------

    def qname(self, *parts: Any) -> str:
        return "-".join(["b", self.run_id, *[re.sub(r"[^A-Za-z0-9_]", "", str(p)) for p in parts]])[:64]

    def spec(self, server: str, queue: str, **kw: Any) -> dict:
        return {"url": self.servers[server].url, "project": self.project, "queue": queue, **kw}

    def record(self, workload: str, server: str, variant: str, rep: int, metric: str, value: float,
               **extra: Any) -> None:
        self.records.append({"workload": workload, "server": server, "variant": variant, "rep": rep,
                             "metric": metric, "value": value, **extra})

    def problem(self, workload: str, variant: str, rep: int, what: str) -> None:
        """Note what makes this run broken (it will exit L{verdict.EXIT_BROKEN})."""
        found = verdict.Problem(workload, variant, rep, what)
        self.problems.append(found)
        say(f"BROKEN: {found.describe()}")

    @contextmanager
    def guarded(self, workload: str, variant: str, rep: int) -> Iterator[None]:
        """Run one variant: a failed driver is a problem of the run, and the next variant runs."""
        try:
            yield
        except (DriverFailed, PostFailed) as e:
            say(str(e))
            self.problem(workload, variant, rep, "driver failed: " + str(e).splitlines()[0])

    def fill(self, server: str, queue: str, n: int) -> None:
        """Post C{n} messages to C{queue}; L{DriverFailed} if fewer were posted."""
        assert self.drivers is not None
        got = self.drivers.run("ceiling", self.spec(server, queue, op="fill", n=n,
                                                    inflight=TX_INFLIGHT.get(server, 8),
                                                    persistent=server != "builtin"), timeout=600)
        if got["messages"] != n:
            raise DriverFailed(f"filling {queue}: {got['messages']} of {n} messages posted")

    def post_message(self, server: str, queue: str, doc: Any) -> None:
        url = self.servers[server].url.split("://", 1)[1]
        conn = http.client.HTTPConnection(url, timeout=10)
        try:
            conn.request("POST", f"/v2/queues/{queue}/messages", body=json.dumps({"messages": [doc]}),
                         headers={"Client-ID": str(uuid.uuid4()), "X-Project-ID": self.project,
                                  "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 201:
                raise PostFailed(f"posting to {queue}: {resp.status}")
        except OSError as e:
            raise PostFailed(f"posting to {queue}: {e}")
        finally:
            conn.close()

    def chosen(self, variants: list) -> list:
        """The latency variants ``--variants`` picks (all without it)."""
        if not self.args.variants:
            return variants
        return [v for v in variants if any(word in v[0] for word in self.args.variants)]

    @staticmethod
    def order(variants: list, rep: int) -> list:
        """Interleave: rotate the order every repetition."""
        k = rep % len(variants)
        return variants[k:] + variants[:k]

    # -- workloads ------------------------------------------------------------

    def w_post(self, rep: int) -> None:
        assert self.drivers is not None
        for server in self.args.servers:
            for name, (per, n) in self.sizes["post"].items():
                variants = ["official", "official one thread", "txzaqar", "ceiling"]
                for variant in self.order(variants, rep):
                    queue = self.qname(name, server, rep, variant)
                    kind = {"official": "official", "official one thread": "official", "txzaqar": "tx",
                            "ceiling": "ceiling"}[variant]
                    # the official client posts in as many threads as txzaqar has requests in flight
                    threads = 1 if variant == "official one thread" else TX_INFLIGHT[server]
                    spec = self.spec(server, queue, op="post", n=n, per_request=per, threads=threads,
                                     inflight=TX_INFLIGHT[server], persistent=server == "gunicorn")
                    with self.guarded(name, f"{variant} on {server}", rep):
                        got = self.drivers.run(kind, spec, timeout=600)
                        self.record(name, server, variant, rep, "msg/s", got["messages"] / got["seconds"])
                        self.record(name, server, variant, rep, "client CPU ms/msg",
                                    1000 * got["cpu"] / got["messages"])
                        say(f"{name:8} {server:8} {variant:20} {got['messages'] / got['seconds']:8.0f} msg/s")

    def w_consume(self, rep: int) -> None:
        assert self.drivers is not None
        n = self.sizes["consume"]
        budget = self.budget_factor * n + 100
        for server in self.args.servers:
            for variant in self.order(self.consume_variants(server), rep):
                with self.guarded("consume", f"{variant} on {server}", rep):
                    self._consume_one(server, variant, rep, n, budget)

    def consume_variants(self, server: str) -> list[str]:
        """
        The consume rows: the official documented loop as documented (one
        thread, claims of 10), the official sweep (each thread count of the
        sweep, the documented and the bulk loop, with the server's largest
        claim), the Subscriber tuned and at its defaults, and the ceiling's
        sweep of concurrent loops.
        """
        sweep = self.sizes["sweep"]
        limit = self.max_claim(server)
        return [
            OFFICIAL_DOCUMENTED,
            *[official_label(mode, t, limit) for t in sweep["threads"] for mode in ("documented", "bulk")],
            SUBSCRIBER_TUNED, SUBSCRIBER_DEFAULTS,
            *[ceiling_label(loops) for loops in sweep["loops"]],
        ]

    def max_claim(self, server: str) -> int:
        """
        The largest claim C{server} allows: read from its answer to a claim
        of 1,000 (a 400 whose description names the limit: "may not be
        greater than 20"); L{DEFAULT_MAX_CLAIM} if it says no such thing.
        Asked once per server.
        """
        found = self.limits.get(server)
        if found is None:
            found, source = self._probe_max_claim(server)
            self.limits[server] = found
            self.extra["max_claim"].append({"server": server, "max_claim": found, "source": source})
            say(f"{server}: the largest claim is {found} ({source})")
        return found

    def _probe_max_claim(self, server: str) -> tuple[int, str]:
        srv = self.servers.get(server)
        if srv is None:  # no server started (unit tests): Zaqar's default
            return DEFAULT_MAX_CLAIM, "Zaqar's default max_messages_per_claim_or_pop"
        conn = http.client.HTTPConnection(srv.url.split("://", 1)[1], timeout=10)
        try:
            conn.request("POST", f"/v2/queues/{self.qname('limits')}/claims?limit=1000",
                         body=json.dumps({"ttl": 60, "grace": 60}),
                         headers={"Client-ID": str(uuid.uuid4()), "X-Project-ID": self.project,
                                  "Content-Type": "application/json"})
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        except OSError as e:
            text = str(e)
        finally:
            conn.close()
        found = max_claim_in(text)
        if found is not None:
            return found, "the server's answer to a claim of 1,000"
        return DEFAULT_MAX_CLAIM, f"Zaqar's default; the server's answer named none: {text[:120]!r}"

    def _consume_one(self, server: str, variant: str, rep: int, n: int, budget: int) -> None:
        """Fill a queue with C{n} messages and drain it with C{variant}: every one consumed, once."""
        assert self.drivers is not None
        queue = self.qname("consume", server, rep, variant)
        self.fill(server, queue, n)
        how = consume_config(variant, TX_INFLIGHT[server])
        if how["kind"] == "official":
            got = self.drivers.run("official", self.spec(server, queue, op="consume", mode=how["mode"],
                                                         threads=how["threads"], limit=how["limit"],
                                                         max_requests=budget), 900)
        elif how["kind"] == "ceiling":
            got = self.drivers.run("ceiling", self.spec(
                server, queue, op="consume", limit=self.max_claim(server), inflight=how["loops"],
                persistent=server == "gunicorn", max_requests=budget), 900)
        else:
            got = self.drivers.run("tx", self.spec(server, queue, op="consume", n=n, timeout=600,
                                                   options=how["options"]), 900)
        wrong = []
        if got["messages"] != n:
            wrong.append(f"consumed {got['messages']} of {n} messages")
        if got.get("callbacks", n) != got.get("delivered", n):
            wrong.append(f"{got['callbacks'] - got['delivered']} callbacks for messages already delivered")
        if wrong:
            self.problem("consume", f"{variant} on {server}", rep, "; ".join(wrong))
            return
        self.record("consume", server, variant, rep, "msg/s", n / got["seconds"])
        self.record("consume", server, variant, rep, "client CPU ms/msg", 1000 * got["cpu"] / n)
        say(f"consume  {server:8} {variant:42} {n / got['seconds']:8.0f} msg/s "
            f"{1000 * got['cpu'] / n:.3f} ms CPU/msg")

    def _latency_one(self, workload: str, rep: int, label: str, kind: str, settings: dict) -> None:
        assert self.drivers is not None
        server = "gunicorn"
        size = self.sizes["latency"]
        queue = self.qname("lat", rep, label)
        deadline = size["idle"] + size["expect"] * size["gap"][1] + 60
        srv = self.servers[PUSH_SERVER]
        spec = push_goals.latency_spec(kind, settings, url=srv.url, project=self.project, queue=queue,
                                       websocket_url=srv.websocket_url, expect=size["expect"],
                                       deadline=deadline)
        if self.args.break_delivery and kind in BREAKABLE:
            spec["drop_first"] = True
        ws_pid = srv.websocket.pid if srv.websocket is not None else None

        def server_cpu() -> float:
            return group_cpu(srv.pid) + (group_cpu(ws_pid) if ws_pid else 0.0)  # type: ignore[arg-type]
        rng = random.Random(f"{rep}-{label}")

        def feed(p: subprocess.Popen) -> dict:
            time.sleep(1.0)
            s0, c0, w0 = server_cpu(), proc_cpu(p.pid), time.time()
            time.sleep(size["idle"])
            s1, c1, w1 = server_cpu(), proc_cpu(p.pid), time.time()
            for n in range(size["expect"]):
                time.sleep(rng.uniform(*size["gap"]))
                self.post_message(PUSH_SERVER, queue, {"body": {"t": time.time(), "n": n}, "ttl": 300})
            return {"window": (w0, w1), "client_cpu": c1 - c0, "server_cpu": s1 - s0}

        failed = len(self.problems)
        with self.guarded(workload, label, rep):
            got, fed = self.drivers.run_fed(kind, spec, feed, timeout=deadline + 30)
        if len(self.problems) > failed:
            return
        w0, w1 = fed["window"]
        delivered = [d.get("n") for d in got.get("deliveries", [])]
        wrong = verdict.delivery_problems(range(size["expect"]), delivered)
        self.extra["deliveries"].append({"variant": label, "rep": rep, "deliveries": got.get("deliveries"),
                                         "claims": got.get("claims"), "window": [w0, w1],
                                         "wakes": got.get("wakes"), "broken": bool(wrong)})
        for what in wrong:
            self.problem(workload, label, rep, what)
        if wrong:
            return  # its figures would be a broken run's
        lat = [1000 * x for x in got["latencies"]]
        idle_rate = sum(1 for s in got["requests"] if w0 <= s < w1) / (w1 - w0)
        self.record(workload, server, label, rep, "p50 ms", nearest_rank(lat, 50))
        self.record(workload, server, label, rep, "p99 ms", nearest_rank(lat, 99))
        self.record(workload, server, label, rep, "idle req/s", idle_rate)
        self.record(workload, server, label, rep, "idle client CPU %", 100 * fed["client_cpu"] / (w1 - w0))
        self.record(workload, server, label, rep, "idle server CPU %", 100 * fed["server_cpu"] / (w1 - w0))
        parts = timing.split(got.get("deliveries", []))
        parts["idle poll period ms"] = timing.idle_period(got.get("claims", []), (w0, w1))
        parts["idle claim ms"] = timing.idle_round_trip(got.get("claims", []), (w0, w1))
        for metric, value in parts.items():
            if value is not None:
                self.record(workload, server, label, rep, f"split: {metric}", value)
        self.extra["latencies"].append({"variant": label, "rep": rep, "ms": lat})
        say(f"{workload} {label:36} p50 {nearest_rank(lat, 50):7.1f} ms p99 {nearest_rank(lat, 99):7.1f} ms "
            f"idle {idle_rate:5.2f} req/s")

    def w_latency(self, rep: int) -> None:
        if "gunicorn" not in self.args.servers:
            return
        for label, kind, settings in push_goals.paired(self.order(self.chosen(LATENCY_VARIANTS), rep), rep):
            self._latency_one("latency", rep, label, kind, settings)

    def w_tradeoff(self, rep: int) -> None:
        if rep != 0 or not self.sizes["tradeoff"] or "gunicorn" not in self.args.servers:
            return  # one repetition: it is a table of settings, not a comparison
        for label, kind, settings in self.chosen(TRADEOFF_VARIANTS):
            self._latency_one("latency settings", rep, label, kind, settings)

    def w_memory(self, rep: int) -> None:
        assert self.drivers is not None
        if "gunicorn" not in self.args.servers:
            return
        size = self.sizes["memory"]
        server = "gunicorn"
        for variant in self.order(["idle", "backlog"], rep):
            queue = self.qname("mem", rep, variant)
            n = size["backlog"] if variant == "backlog" else 0
            label = f"Subscriber {'draining backlog' if n else 'idle'}"
            with self.guarded("memory", label, rep):
                if n:
                    say(f"filling {n} messages for the memory run ...")
                    self.fill(server, queue, n)
                got = self.drivers.run("tx", self.spec(server, queue, op="memory", n=n,
                                                       duration=size["duration"],
                                                       callback_delay=size["callback_delay"]),
                                       timeout=size["duration"] + 120)
                self.record("memory", server, label, rep, "peak RSS MiB", got["peak_rss_kib"] / 1024)
                self.record("memory", server, label, rep, "processed", got["processed"])
                self.extra["rss"].append({"variant": label, "rep": rep, "samples_kib": got["rss_samples_kib"]})
                say(f"memory {label:28} peak {got['peak_rss_kib'] / 1024:6.1f} MiB, "
                    f"{got['processed']} processed in {got['seconds']:.0f}s")

    def w_many(self, rep: int) -> None:
        assert self.drivers is not None
        if "gunicorn" not in self.args.servers:
            return
        size = self.sizes["many"]
        label = f"Subscriber on {size['queues']} idle queues"
        with self.guarded("many queues", label, rep):
            got = self.drivers.run("tx", self.spec(PUSH_SERVER, self.qname("many", rep), op="many", **size),
                                   timeout=size["settle"] + size["window"] + 120)
            self.record("many queues", "gunicorn", label, rep, "req/s backed off", got["requests_per_s"])
            self.record("many queues", "gunicorn", label, rep, "client CPU %", 100 * got["cpu"] / got["window"])
            self.record("many queues", "gunicorn", label, rep, "req in 1st second",
                        got["first_second_requests"])
            say(f"many queues: {got['requests_per_s']:.1f} req/s after {size['settle']}s "
                f"({got['first_second_requests']} requests in the first second)")
        srv = self.servers[PUSH_SERVER]
        for source in push_goals.MANY_PUSH:
            label = f"Subscriber with {source} push on {size['queues']} idle queues"
            spec = self.spec(PUSH_SERVER, self.qname("many", source, rep), op="many", push=source,
                             websocket_url=srv.websocket_url, **size)
            with self.guarded("many queues", label, rep):
                got = self.drivers.run("push", spec, timeout=size["settle"] + size["window"] + 180)
                self.record("many queues", "gunicorn", label, rep, "req/s backed off", got["requests_per_s"])
                self.record("many queues", "gunicorn", label, rep, "client CPU %",
                            100 * got["cpu"] / got["window"])
                self.record("many queues", "gunicorn", label, rep, "queues with push up", got["push_up_queues"])
                self.record("many queues", "gunicorn", label, rep, "s until push up", got["push_up_after"])
                say(f"many queues, {source} push: {got['requests_per_s']:.2f} req/s after {size['settle']}s, "
                    f"push up for {got['push_up_queues']} queues after {got['push_up_after']:.1f}s")

    WORKLOADS = {
        "post": w_post, "consume": w_consume, "latency": w_latency, "tradeoff": w_tradeoff,
        "memory": w_memory, "many": w_many, "scrape": ScaleWorkloads.w_scrape, "scale": ScaleWorkloads.w_scale,
    }

    # -- servers --------------------------------------------------------------

    def start(self) -> None:
        self.drivers = Drivers(ensure_bench_venv() / "bin" / "python")
        if not (PLAIN_WORKLOADS | PUSH_WORKLOADS) & set(self.args.only):
            return  # the scrape cost alone: no server
        venv = ensure_server_venv()
        redis = RedisServer(venv=venv)
        redis.start()
        # only the post, consume and memory workloads use the plain servers
        for mode in self.args.servers if PLAIN_WORKLOADS & set(self.args.only) else ():
            server = ZaqarServer(redis, mode=mode, venv=venv, name=f"bench-{mode}-{self.run_id}")
            server.start()
            self.servers[mode] = server
        if "gunicorn" in self.args.servers and PUSH_WORKLOADS & set(self.args.only):
            # the notifier pipeline costs every post a subscription lookup: only the
            # workloads with push rows run on this one (gunicorn too, plus the WebSocket transport)
            server = ZaqarServer(redis, mode="gunicorn", venv=venv, websocket=True,
                                 name=f"bench-push-{self.run_id}",
                                 extra_config={"transport": {"max_queues_per_page": str(SCALE_PAGE)}})
            server.start()
            self.servers[PUSH_SERVER] = server
        for mode in self.servers:  # warm up every worker
            q = self.qname("warmup", mode)
            self.fill(mode, q, 200)
            self.drivers.run("ceiling", self.spec(mode, q, op="consume", inflight=4, limit=20,
                                                  persistent=mode != "builtin", max_requests=200), 120)

    def run(self) -> int:
        """
        Start the servers, run every workload C{--reps} times, stop the
        servers, then L{finish}.

        @return: The exit status (L{verdict.exit_status}).
        """
        started = time.monotonic()
        try:
            self.start()
            for rep in range(self.args.reps):
                for name in self.args.only:
                    say(f"--- {name}, repetition {rep + 1}/{self.args.reps} ---")
                    self.WORKLOADS[name](self, rep)
        finally:
            stop_all()
        return self.finish(time.monotonic() - started)

    def finish(self, elapsed: float) -> int:
        """
        Print the table, the goals and the verdict; write the JSON and
        text (and the plot) under C{--out}.

        @return: The exit status (L{verdict.exit_status}).
        """
        scale = summary.Scale(smoke=self.args.smoke, queues=self.sizes["many"]["queues"],
                              scrape_queues=self.sizes["scrape"]["queues"],
                              scale_queues=self.sizes["scale"]["queues"])
        table, goals = summary.summarize(self.records, self.extra["latencies"], scale)
        status = verdict.exit_status(self.problems, goals)
        text = "\n\n".join([
            summary.render(table, goals, smoke=self.args.smoke, reps=self.args.reps, elapsed=elapsed),
            verdict.render(self.problems, goals, self.args.smoke),
        ])
        sys.stderr.flush()
        print(text, flush=True)
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = "smoke" if self.args.smoke else time.strftime("bench-%Y%m%d-%H%M%S")
        data = {
            "args": {k: v for k, v in vars(self.args).items()}, "sizes": self.sizes,
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "elapsed_s": elapsed, "records": self.records, "table": table, "goals": goals,
            "problems": [asdict(p) for p in self.problems], "exit_status": status,
            **self.extra,
        }
        json_path = out / f"{stem}.json"
        json_path.write_text(json.dumps(data, indent=1, default=str))
        (out / f"{stem}.txt").write_text(text + "\n")
        say(f"wrote {json_path} and {out / f'{stem}.txt'}")
        if not self.args.no_plot:
            self.plot(json_path, out / f"{stem}.png")
        return status

    def plot(self, json_path: Path, png: Path) -> None:
        assert self.drivers is not None
        python = self.drivers.bench_python
        if not has_matplotlib(python.parents[1]):
            say("matplotlib is not available in the benchmark venv: no plot")
            return
        rc = subprocess.call([str(python), str(BENCH / "plot.py"), str(json_path), str(png)],
                             stdin=subprocess.DEVNULL)
        if rc == 0:
            say(f"wrote {png}")
        else:
            say(f"plotting failed (exit {rc}); the table and JSON are complete")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (seconds; CI)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; 1 with --smoke)")
    parser.add_argument("--servers", default="gunicorn,builtin", help="comma-separated: gunicorn,builtin")
    parser.add_argument("--only", default=",".join(Bench.WORKLOADS),
                        help=f"comma-separated workloads (default all: {','.join(Bench.WORKLOADS)})")
    parser.add_argument("--variants", default="",
                        help="comma-separated words: only the latency variants whose label has one "
                             "(e.g. 'push,bare,0.1s')")
    parser.add_argument("--latency-messages", type=int, default=None,
                        help="messages per latency variant (default 60; 3 with --smoke)")
    parser.add_argument("--out", default=str(BENCH / "results"), help="where JSON/text/PNG go")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    # hidden: for bench.gate_check only (README "Benchmarks")
    parser.add_argument("--break-delivery", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.reps = args.reps or (1 if args.smoke else 3)
    args.servers = [s for s in args.servers.split(",") if s]
    args.only = [w for w in args.only.split(",") if w]
    args.variants = [w for w in args.variants.split(",") if w]
    for w in args.only:
        if w not in Bench.WORKLOADS:
            parser.error(f"unknown workload {w!r}")
    for s in args.servers:
        if s not in ("gunicorn", "builtin"):
            parser.error(f"unknown server {s!r}")
    if args.break_delivery and not breakable(args):
        parser.error("--break-delivery needs a Subscriber latency variant on gunicorn "
                     "(--only latency, --servers gunicorn)")
    return Bench(args).run()


def breakable(args: argparse.Namespace) -> bool:
    """Whether the run has a latency variant that C{--break-delivery} breaks."""
    if "gunicorn" not in args.servers:
        return False
    chosen = [v for v in LATENCY_VARIANTS
              if not args.variants or any(word in v[0] for word in args.variants)]
    return "latency" in args.only and any(kind in BREAKABLE for _, kind, _ in chosen)
