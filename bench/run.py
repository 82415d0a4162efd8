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
apart), checks the goals of issue 6, and writes JSON (and a PNG plot) under
``bench/results/``.

Everything is bounded: request loops have a request budget, drivers a
timeout, and only loopback servers started here are contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import select
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import push_goals, timing
from bench._venv import ensure_bench_venv, has_matplotlib
from txzaqar.testing.servers import RedisServer, ZaqarServer, ensure_server_venv, group_stats, stop_all

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: The gunicorn server with the notifier pipeline and the WebSocket transport (latency, many queues).
PUSH_SERVER = "gunicorn-push"

#: Sizes of the full run and of the seconds-long smoke run (CI).
FULL = {
    "post": {"post1": (1, 2000), "post10": (10, 10000), "post20": (20, 20000)},
    "consume": 5000,
    # 60 messages: a p50 of 25 wanders by +-10 ms between repetitions (its standard error)
    "latency": {"expect": 60, "gap": (0.3, 1.2), "idle": 15.0},
    "tradeoff": True,
    "memory": {"backlog": 100_000, "duration": 45.0, "callback_delay": 0.01},
    "many": {"queues": 1000, "settle": 35.0, "window": 60.0},
}
SMOKE = {
    "post": {"post1": (1, 40), "post10": (10, 200), "post20": (20, 400)},
    "consume": 200,
    "latency": {"expect": 3, "gap": (0.05, 0.3), "idle": 1.0},
    "tradeoff": False,
    "memory": {"backlog": 400, "duration": 2.0, "callback_delay": 0.01},
    "many": {"queues": 20, "settle": 2.0, "window": 2.0},
}

#: txzaqar requests in flight for posting (the official client has one).
TX_INFLIGHT = {"gunicorn": 8, "builtin": 4}
#: Subscriber options for the throughput run (no-op callback).
TX_CONSUME_OPTIONS = {"batch": 20, "concurrency": 80, "claims_in_flight": 4}
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


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def group_cpu(pgid: int) -> float:
    """CPU time of every live process in process group *pgid* (a server and its workers)."""
    return sum((int(f[11]) + int(f[12])) / CLK_TCK for f in group_stats(pgid))


class Drivers:
    def __init__(self, bench_python: Path) -> None:
        self.bench_python = bench_python

    def command(self, kind: str, spec: dict) -> list[str]:
        arg = json.dumps(spec)
        if kind == "official":
            return [str(self.bench_python), str(BENCH / "official_driver.py"), arg]
        module = {"tx": "bench.tx_driver", "ceiling": "bench.ceiling", "push": "bench.push",
                  "listener": "bench.listeners"}[kind]
        return [sys.executable, "-m", module, arg]

    @staticmethod
    def _env() -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONWARNINGS"] = "ignore"
        return env

    @staticmethod
    def _result(cmd: list[str], rc: int, out: str, err: str) -> dict:
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if rc != 0 or not lines:
            raise RuntimeError(
                f"driver failed (exit {rc}): {cmd[:3]} {cmd[-1][:200]}\n--- stderr ---\n{err[-3000:]}"
            )
        return json.loads(lines[-1])

    def run(self, kind: str, spec: dict, timeout: float) -> dict:
        cmd = self.command(kind, spec)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                           env=self._env(), stdin=subprocess.DEVNULL)
        return self._result(cmd, p.returncode, p.stdout, p.stderr)

    def run_fed(self, kind: str, spec: dict, feed: Callable[[subprocess.Popen], dict],
                timeout: float) -> tuple[dict, dict]:
        """Start a driver, wait for READY, run ``feed(process)``, then collect its result."""
        cmd = self.command(kind, spec)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             env=self._env(), stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            assert p.stdout is not None
            while True:
                ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))
                line = p.stdout.readline() if ready else ""
                if line.strip() == "READY":
                    break
                if not ready or not line:
                    p.kill()
                    out, err = p.communicate()
                    raise RuntimeError(f"driver never became ready: {cmd[:3]}\n{err[-3000:]}")
            fed = feed(p)
            out, err = p.communicate(timeout=timeout)
        except BaseException:
            if p.poll() is None:
                p.kill()
                p.communicate()
            raise
        return self._result(cmd, p.returncode, out, err), fed


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = SMOKE if args.smoke else FULL
        if args.latency_messages:
            self.sizes = {**self.sizes, "latency": {**self.sizes["latency"], "expect": args.latency_messages}}
        self.run_id = uuid.uuid4().hex[:6]
        self.project = f"bench-{self.run_id}"
        self.records: list[dict] = []
        self.extra: dict[str, Any] = defaultdict(list)
        self.servers: dict[str, ZaqarServer] = {}
        self.drivers: Drivers | None = None
        self.budget_factor = 4  # request budgets: 4x what the work needs

    # -- helpers ------------------------------------------------------------

    def qname(self, *parts: Any) -> str:
        return "-".join(["b", self.run_id, *[str(p).replace(" ", "").replace(".", "") for p in parts]])[:64]

    def spec(self, server: str, queue: str, **kw: Any) -> dict:
        return {"url": self.servers[server].url, "project": self.project, "queue": queue, **kw}

    def record(self, workload: str, server: str, variant: str, rep: int, metric: str, value: float,
               **extra: Any) -> None:
        self.records.append({"workload": workload, "server": server, "variant": variant, "rep": rep,
                             "metric": metric, "value": value, **extra})

    def fill(self, server: str, queue: str, n: int) -> None:
        assert self.drivers is not None
        got = self.drivers.run("ceiling", self.spec(server, queue, op="fill", n=n,
                                                    inflight=TX_INFLIGHT.get(server, 8),
                                                    persistent=server != "builtin"), timeout=600)
        assert got["messages"] == n, got

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
                raise RuntimeError(f"posting to {queue}: {resp.status}")
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
                variants = ["official", "txzaqar", "ceiling"]
                for variant in self.order(variants, rep):
                    queue = self.qname(name, server, rep, variant)
                    kind = {"official": "official", "txzaqar": "tx", "ceiling": "ceiling"}[variant]
                    spec = self.spec(server, queue, op="post", n=n, per_request=per,
                                     inflight=TX_INFLIGHT[server], persistent=server == "gunicorn")
                    got = self.drivers.run(kind, spec, timeout=600)
                    self.record(name, server, variant, rep, "msg/s", got["messages"] / got["seconds"])
                    self.record(name, server, variant, rep, "client CPU ms/msg",
                                1000 * got["cpu"] / got["messages"])
                    say(f"{name:8} {server:8} {variant:10} {got['messages'] / got['seconds']:8.0f} msg/s")

    def w_consume(self, rep: int) -> None:
        assert self.drivers is not None
        n = self.sizes["consume"]
        budget = self.budget_factor * n + 100
        for server in self.args.servers:
            variants = ["official documented", "official bulk", "txzaqar Subscriber", "ceiling"]
            for variant in self.order(variants, rep):
                queue = self.qname("consume", server, rep, variant)
                self.fill(server, queue, n)
                if variant.startswith("official"):
                    mode = "bulk" if variant.endswith("bulk") else "documented"
                    got = self.drivers.run("official", self.spec(server, queue, op="consume", mode=mode,
                                                                 limit=10, max_requests=budget), 900)
                elif variant == "ceiling":
                    got = self.drivers.run("ceiling", self.spec(
                        server, queue, op="consume", limit=20, inflight=TX_INFLIGHT[server],
                        persistent=server == "gunicorn", max_requests=budget), 900)
                else:
                    got = self.drivers.run("tx", self.spec(server, queue, op="consume", n=n, timeout=600,
                                                           options=TX_CONSUME_OPTIONS), 900)
                if got["messages"] != n:
                    raise RuntimeError(f"{variant} consumed {got['messages']} of {n}: {got}")
                self.record("consume", server, variant, rep, "msg/s", n / got["seconds"])
                self.record("consume", server, variant, rep, "client CPU ms/msg", 1000 * got["cpu"] / n)
                say(f"consume  {server:8} {variant:20} {n / got['seconds']:8.0f} msg/s "
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
        ws_pid = srv.websocket.pid if srv.websocket is not None else None

        def server_cpu() -> float:
            return group_cpu(srv.pid) + (group_cpu(ws_pid) if ws_pid else 0.0)  # type: ignore[arg-type]
        rng = random.Random(f"{rep}-{label}")

        def feed(p: subprocess.Popen) -> dict:
            time.sleep(1.0)
            s0, c0, w0 = server_cpu(), proc_cpu(p.pid), time.time()
            time.sleep(size["idle"])
            s1, c1, w1 = server_cpu(), proc_cpu(p.pid), time.time()
            for _ in range(size["expect"]):
                time.sleep(rng.uniform(*size["gap"]))
                self.post_message(PUSH_SERVER, queue, {"body": {"t": time.time()}, "ttl": 300})
            return {"window": (w0, w1), "client_cpu": c1 - c0, "server_cpu": s1 - s0}

        got, fed = self.drivers.run_fed(kind, spec, feed, timeout=deadline + 30)
        lat = [1000 * x for x in got["latencies"]]
        w0, w1 = fed["window"]
        idle_rate = sum(1 for s in got["requests"] if w0 <= s < w1) / (w1 - w0)
        if len(lat) < size["expect"]:
            say(f"WARNING: {label}: only {len(lat)} of {size['expect']} messages arrived")
        self.record(workload, server, label, rep, "p50 ms", pct(lat, 50))
        self.record(workload, server, label, rep, "p99 ms", pct(lat, 99))
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
        self.extra["deliveries"].append({"variant": label, "rep": rep, "deliveries": got.get("deliveries"),
                                         "claims": got.get("claims"), "window": [w0, w1]})
        say(f"{workload} {label:36} p50 {pct(lat, 50):7.1f} ms p99 {pct(lat, 99):7.1f} ms "
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
            if n:
                say(f"filling {n} messages for the memory run ...")
                self.fill(server, queue, n)
            got = self.drivers.run("tx", self.spec(server, queue, op="memory", n=n,
                                                   duration=size["duration"],
                                                   callback_delay=size["callback_delay"]),
                                   timeout=size["duration"] + 120)
            label = f"Subscriber {'draining backlog' if n else 'idle'}"
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
        got = self.drivers.run("tx", self.spec(PUSH_SERVER, self.qname("many", rep), op="many", **size),
                               timeout=size["settle"] + size["window"] + 120)
        label = f"Subscriber on {size['queues']} idle queues"
        self.record("many queues", "gunicorn", label, rep, "req/s backed off", got["requests_per_s"])
        self.record("many queues", "gunicorn", label, rep, "client CPU %", 100 * got["cpu"] / got["window"])
        self.record("many queues", "gunicorn", label, rep, "req in 1st second", got["first_second_requests"])
        say(f"many queues: {got['requests_per_s']:.1f} req/s after {size['settle']}s "
            f"({got['first_second_requests']} requests in the first second)")
        srv = self.servers[PUSH_SERVER]
        for source in push_goals.MANY_PUSH:
            label = f"Subscriber with {source} push on {size['queues']} idle queues"
            spec = self.spec(PUSH_SERVER, self.qname("many", source, rep), op="many", push=source,
                             websocket_url=srv.websocket_url, **size)
            got = self.drivers.run("push", spec, timeout=size["settle"] + size["window"] + 180)
            self.record("many queues", "gunicorn", label, rep, "req/s backed off", got["requests_per_s"])
            self.record("many queues", "gunicorn", label, rep, "client CPU %", 100 * got["cpu"] / got["window"])
            self.record("many queues", "gunicorn", label, rep, "queues with push up", got["push_up_queues"])
            self.record("many queues", "gunicorn", label, rep, "s until push up", got["push_up_after"])
            say(f"many queues, {source} push: {got['requests_per_s']:.2f} req/s after {size['settle']}s, "
                f"push up for {got['push_up_queues']} queues after {got['push_up_after']:.1f}s")

    WORKLOADS = {
        "post": w_post, "consume": w_consume, "latency": w_latency, "tradeoff": w_tradeoff,
        "memory": w_memory, "many": w_many,
    }

    # -- servers --------------------------------------------------------------

    def start(self) -> None:
        venv = ensure_server_venv()
        self.drivers = Drivers(ensure_bench_venv() / "bin" / "python")
        redis = RedisServer(venv=venv)
        redis.start()
        for mode in self.args.servers:
            server = ZaqarServer(redis, mode=mode, venv=venv, name=f"bench-{mode}-{self.run_id}")
            server.start()
            self.servers[mode] = server
        if "gunicorn" in self.args.servers and {"latency", "tradeoff", "many"} & set(self.args.only):
            # the notifier pipeline costs every post a subscription lookup: only the
            # workloads with push rows run on this one (gunicorn too, plus the WebSocket transport)
            server = ZaqarServer(redis, mode="gunicorn", venv=venv, websocket=True,
                                 name=f"bench-push-{self.run_id}")
            server.start()
            self.servers[PUSH_SERVER] = server
        for mode in self.servers:  # warm up every worker
            q = self.qname("warmup", mode)
            self.fill(mode, q, 200)
            self.drivers.run("ceiling", self.spec(mode, q, op="consume", inflight=4, limit=20,
                                                  persistent=mode != "builtin", max_requests=200), 120)

    def run(self) -> int:
        started = time.monotonic()
        try:
            self.start()
            for rep in range(self.args.reps):
                for name in self.args.only:
                    say(f"--- {name}, repetition {rep + 1}/{self.args.reps} ---")
                    self.WORKLOADS[name](self, rep)
        finally:
            stop_all()
        elapsed = time.monotonic() - started
        table, goals = summarize(self.records, self.extra["latencies"])
        text = render(table, goals, self.args, elapsed)
        sys.stderr.flush()
        print(text, flush=True)
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = "smoke" if self.args.smoke else time.strftime("bench-%Y%m%d-%H%M%S")
        data = {
            "args": {k: v for k, v in vars(self.args).items()}, "sizes": self.sizes,
            "elapsed_s": elapsed, "records": self.records, "table": table, "goals": goals,
            **self.extra,
        }
        json_path = out / f"{stem}.json"
        json_path.write_text(json.dumps(data, indent=1, default=str))
        (out / f"{stem}.txt").write_text(text + "\n")
        say(f"wrote {json_path} and {out / f'{stem}.txt'}")
        if not self.args.no_plot:
            self.plot(json_path, out / f"{stem}.png")
        return 0

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


# ---------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------

#: workload -> the reference variant ratios are computed against.
REFERENCE = {
    "post1": "official", "post10": "official", "post20": "official",
    "consume": "official documented", "latency": "official poll 0.1s",
}


def summarize(records: list[dict], latencies: list[dict] | None = None) -> tuple[list[dict], list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["workload"], r["server"], r["variant"], r["metric"])].append(r)
    by_rep = {(r["workload"], r["server"], r["variant"], r["metric"], r["rep"]): r["value"] for r in records}

    def ratios(w: str, s: str, v: str, m: str, ref: str) -> list[float]:
        out = []
        for (w2, s2, v2, m2, rep), value in by_rep.items():
            if (w2, s2, v2, m2) == (w, s, v, m):
                base = by_rep.get((w, s, ref, m, rep))
                if base:
                    out.append(value / base)
        return out

    table = []
    for (w, s, v, m), rs in groups.items():
        values = [r["value"] for r in rs]
        row = {"workload": w, "server": s, "variant": v, "metric": m, "n": len(values),
               "min": min(values), "median": statistics.median(values), "max": max(values)}
        ref = REFERENCE.get(w)
        if ref and v != ref:
            rr = ratios(w, s, v, m, ref)
            if rr:
                row["ratio"] = statistics.median(rr)
                row["ratio_min"], row["ratio_max"] = min(rr), max(rr)
                row["ratio_to"] = ref
        table.append(row)

    def median_ratio(w: str, s: str, v: str, m: str, ref: str) -> float | None:
        rr = ratios(w, s, v, m, ref)
        return statistics.median(rr) if rr else None

    def median_value(w: str, s: str, v: str, m: str) -> float | None:
        vals = [r["value"] for r in groups.get((w, s, v, m), [])]
        return statistics.median(vals) if vals else None

    goals: list[dict] = []

    def goal(text: str, measured: float | None, ok: Callable[[float], bool], fmt: str = "{:.2f}") -> None:
        goals.append({"goal": text, "measured": measured,
                      "shown": "n/a" if measured is None else fmt.format(measured),
                      "met": None if measured is None else bool(ok(measured))})

    g = "gunicorn"
    sub = "txzaqar Subscriber"
    goal("consume: Subscriber >= 6x official documented loop",
         median_ratio("consume", g, sub, "msg/s", "official documented"), lambda x: x >= 6, "x{:.2f}")
    goal("consume: Subscriber >= 1.5x official bulk-delete loop",
         median_ratio("consume", g, sub, "msg/s", "official bulk"), lambda x: x >= 1.5, "x{:.2f}")
    goal("consume: Subscriber >= 90% of the raw treq ceiling",
         median_ratio("consume", g, sub, "msg/s", "ceiling"), lambda x: x >= 0.9, "{:.0%}")
    goal("post 1/request: txzaqar >= 2x official",
         median_ratio("post1", g, "txzaqar", "msg/s", "official"), lambda x: x >= 2, "x{:.2f}")
    for name in ("post10", "post20"):
        goal(f"{name}: txzaqar >= 1.8x official",
             median_ratio(name, g, "txzaqar", "msg/s", "official"), lambda x: x >= 1.8, "x{:.2f}")
    for name in ("post1", "post10", "post20"):
        goal(f"{name} on the built-in server: txzaqar >= 1x official",
             median_ratio(name, "builtin", "txzaqar", "msg/s", "official"), lambda x: x >= 1.0, "x{:.2f}")
    for ref in ("official documented", "official bulk"):
        goal(f"client CPU per consumed message <= 1/5 of {ref}",
             median_ratio("consume", g, sub, "client CPU ms/msg", ref), lambda x: x <= 0.2, "x{:.3f}")
    off01 = "official poll 0.1s"
    tx01 = "txzaqar Subscriber poll 0.115s"
    if median_value("latency", g, tx01, "p50 ms") is None:
        tx01 = "txzaqar Subscriber poll 0.1s"  # e.g. --only tradeoff
    goal(f"idle: {tx01} idle req/s within 5 % of official poll 0.1s (same idle cost)",
         median_ratio("latency", g, tx01, "idle req/s", off01), lambda x: x <= 1.05, "x{:.2f}")
    goal(f"idle: {tx01} p50 post->callback <= 60 ms",
         median_value("latency", g, tx01, "p50 ms"), lambda x: x <= 60, "{:.1f} ms")
    goal(f"idle: {tx01} p99 post->callback <= 120 ms",
         median_value("latency", g, tx01, "p99 ms"), lambda x: x <= 120, "{:.1f} ms")
    goal(f"poll mode: {tx01} p50 no higher than {off01}'s (every repetition's messages pooled)",
         push_goals.pooled_difference(latencies or [], tx01, off01, 50), lambda x: x <= 0, "{:+.1f} ms")
    backlog = median_value("memory", g, "Subscriber draining backlog", "peak RSS MiB")
    idle = median_value("memory", g, "Subscriber idle", "peak RSS MiB")
    goal("memory: peak RSS draining the backlog within 20 MB of an idle Subscriber",
         None if backlog is None or idle is None else backlog - idle, lambda x: x <= 20 * 1e6 / 2**20,
         "+{:.1f} MiB")
    many = [r for r in table if r["workload"] == "many queues" and r["metric"] == "req/s backed off"
            and r["variant"].startswith("Subscriber on ")]
    goal("1,000 idle queues: <= 50 requests/s once backed off",
         many[0]["median"] if many else None, lambda x: x <= 50, "{:.1f} req/s")
    for args in push_goals.goals(median_value, median_ratio):
        goal(*args)
    return table, goals


def _num(x: float) -> str:
    if x != x:
        return "nan"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def render(table: list[dict], goals: list[dict], args: argparse.Namespace, elapsed: float) -> str:
    head = ["workload", "server", "client", "metric", "min", "median", "max", "ratio (min-max)"]
    rows = []
    for r in table:
        ratio = ""
        if "ratio" in r:
            ratio = f"x{r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})"
        rows.append([r["workload"], r["server"], r["variant"], r["metric"], _num(r["min"]),
                     _num(r["median"]), _num(r["max"]), ratio])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    lines = [
        f"txzaqar benchmark ({'smoke' if args.smoke else 'full'}, {args.reps} repetitions, "
        f"{elapsed:.0f}s); ratios: median of per-repetition ratios to "
        + ", ".join(sorted(set(f"{k}: {v}" for k, v in REFERENCE.items()))),
        "",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)),
        "  ".join("-" * w for w in widths),
    ]
    prev = None
    for row in rows:
        if prev is not None and row[0] != prev:
            lines.append("")
        prev = row[0]
        lines.append("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip())
    lines += ["", "goals (gunicorn gthread server unless stated):"]
    for g in goals:
        mark = {True: "MET    ", False: "NOT MET", None: "n/a    "}[g["met"]]
        lines.append(f"  {mark}  {g['goal']}: {g['shown']}")
    return "\n".join(lines)


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
                        help="messages per latency variant (default 25; 3 with --smoke)")
    parser.add_argument("--out", default=str(BENCH / "results"), help="where JSON/text/PNG go")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
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
    return Bench(args).run()
