"""
The benchmark as a gate (C{bench.verdict}, C{bench.run}, C{bench.gate_check}):
a run that loses, misses or duplicates a message, or whose driver fails,
exits non-zero; so does a full run with a goal NOT MET, and a smoke run
judges correctness only.  No server is started: the drivers are fakes.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.test.helpers.bench import bench_module


class DeliveryProblemsTests(SynchronousTestCase):
    """C{bench.verdict.delivery_problems}: every posted message arrives, once."""

    def setUp(self) -> None:
        self.problems = bench_module("verdict").delivery_problems

    def test_correct(self) -> None:
        """Every message once, in any order: no problem."""
        self.assertEqual(self.problems(range(3), [2, 0, 1]), [])

    def test_missing(self) -> None:
        """A message that never came is named."""
        self.assertEqual(self.problems(range(3), [0, 2]), ["1 of 3 messages never arrived (message 1)"])

    def test_none_arrived(self) -> None:
        """Nothing arrived: every message is missing."""
        self.assertEqual(self.problems(range(2), []), ["2 of 2 messages never arrived (message 0, 1)"])

    def test_duplicate(self) -> None:
        """A message delivered twice is a problem even when every message came."""
        self.assertEqual(self.problems(range(3), [0, 1, 1, 2]),
                         ["1 messages arrived more than once (message 1)"])

    def test_missing_hidden_by_duplicate(self) -> None:
        """As many deliveries as messages posted, but one twice and one never: both are named."""
        self.assertEqual(self.problems(range(3), [0, 0, 2]), [
            "1 of 3 messages never arrived (message 1)", "1 messages arrived more than once (message 0)"])

    def test_stranger(self) -> None:
        """A delivery of a message this run never posted (or without a number) is named."""
        self.assertEqual(self.problems(range(2), [0, 1, None]),
                         ["1 deliveries of messages never posted (None)"])

    def test_many_missing_shortened(self) -> None:
        """Only the first ten numbers are listed."""
        (line,) = self.problems(range(25), [])
        self.assertEqual(line, "25 of 25 messages never arrived "
                               "(message 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 15 more)")


class ExitStatusTests(SynchronousTestCase):
    """C{bench.verdict.exit_status}."""

    def setUp(self) -> None:
        self.verdict = bench_module("verdict")
        self.lost = self.verdict.Problem("latency", "txzaqar Subscriber poll 0.1s", 0, "1 of 3 messages never arrived")

    def test_ok(self) -> None:
        """No problem, no goal judged NOT MET: 0."""
        goals = [{"met": True}, {"met": None}]
        self.assertEqual(self.verdict.exit_status([], goals), 0)

    def test_broken(self) -> None:
        """A problem: 3, whatever the goals."""
        self.assertEqual(self.verdict.exit_status([self.lost], [{"met": True}]), self.verdict.EXIT_BROKEN)
        self.assertEqual(self.verdict.exit_status([self.lost], [{"met": False}]), 3)

    def test_goal_not_met(self) -> None:
        """A correct run with a goal NOT MET: 4."""
        self.assertEqual(self.verdict.exit_status([], [{"met": True}, {"met": False}]),
                         self.verdict.EXIT_GOAL_NOT_MET)
        self.assertEqual(self.verdict.EXIT_GOAL_NOT_MET, 4)

    def test_render(self) -> None:
        """The correctness section names every problem; the verdict line gives the status."""
        text = self.verdict.render([self.lost], [], smoke=True)
        self.assertIn("  BROKEN  latency / txzaqar Subscriber poll 0.1s (repetition 1): 1 of 3 messages never "
                      "arrived", text)
        self.assertIn("verdict: exit 3: the run is broken (1 problems)", text)
        self.assertIn("verdict: exit 0: correct (goals not judged at smoke size)",
                      self.verdict.render([], [{"met": None}], smoke=True))
        self.assertIn("verdict: exit 4: 1 goals NOT MET", self.verdict.render([], [{"met": False}], smoke=False))


class FakeDrivers:
    """Answers each driver run with the next canned result (or raises it)."""

    def __init__(self, *results: Any) -> None:
        self.results = list(results)
        self.specs: list[tuple[str, dict]] = []
        self.bench_python = Path("/nonexistent/python")

    def _next(self, kind: str, spec: dict) -> Any:
        self.specs.append((kind, spec))
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def run(self, kind: str, spec: dict, timeout: float) -> dict:
        return self._next(kind, spec)

    def run_fed(self, kind: str, spec: dict, feed: Any, timeout: float) -> tuple[dict, dict]:
        got = self._next(kind, spec)
        return got, {"window": (0.0, 1.0), "client_cpu": 0.0, "server_cpu": 0.0}


def _args(tmp: str, smoke: bool = True, **kw: Any) -> argparse.Namespace:
    defaults = {"smoke": smoke, "reps": 1, "servers": ["gunicorn"], "only": ["latency"], "variants": [],
                "latency_messages": None, "out": tmp, "no_plot": True, "break_delivery": False}
    return argparse.Namespace(**{**defaults, **kw})


def _latency_result(numbers: list[int]) -> dict:
    return {"latencies": [0.01 * (i + 1) for i in range(len(numbers))], "requests": [],
            "deliveries": [{"t": 0.0, "cb": 0.01, "claim": None, "wake": None, "n": n} for n in numbers],
            "claims": []}


class BenchTests(SynchronousTestCase):
    """C{bench.run.Bench}: what its runs note as problems, and its exit status."""

    def setUp(self) -> None:
        self.bench_run = bench_module("run")
        self.verdict = bench_module("verdict")
        self.tmp = self.mktemp()

    def bench(self, drivers: FakeDrivers, **kw: Any) -> Any:
        bench = self.bench_run.Bench(_args(self.tmp, **kw))
        bench.drivers = drivers
        server = SimpleNamespace(url="http://127.0.0.1:1", websocket_url="ws://127.0.0.1:2", websocket=None, pid=0)
        bench.servers = {"gunicorn": server, self.bench_run.PUSH_SERVER: server}
        return bench

    def quietly(self, f: Any, *args: Any) -> Any:
        with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()) as out:
            result = f(*args)
        self.output = out.getvalue()
        return result

    def latency(self, numbers: list[int], **kw: Any) -> Any:
        bench = self.bench(FakeDrivers(_latency_result(numbers)), **kw)
        self.quietly(bench._latency_one, "latency", 0, "txzaqar Subscriber poll 0.1s", "tx", {})
        return bench

    def test_latency_correct(self) -> None:
        """Every message once: no problem, its figures recorded, exit 0."""
        bench = self.latency([0, 1, 2])
        self.assertEqual(bench.problems, [])
        p99 = [r["value"] for r in bench.records if r["metric"] == "p99 ms"]
        self.assertEqual(p99, [30.0])
        self.assertEqual(self.quietly(bench.finish, 1.0), 0)

    def test_latency_missing(self) -> None:
        """A message that never arrived: a problem, no figures, exit 3, and the output and JSON say so."""
        bench = self.latency([0, 2])
        self.assertEqual([p.what for p in bench.problems], ["1 of 3 messages never arrived (message 1)"])
        self.assertEqual(bench.records, [])
        self.assertEqual(self.quietly(bench.finish, 1.0), 3)
        self.assertIn("BROKEN  latency / txzaqar Subscriber poll 0.1s (repetition 1): 1 of 3 messages never "
                      "arrived (message 1)", self.output)
        results = json.loads((Path(self.tmp) / "smoke.json").read_text())
        self.assertEqual(results["exit_status"], 3)
        self.assertEqual(results["problems"][0]["what"], "1 of 3 messages never arrived (message 1)")
        self.assertEqual(results["deliveries"][0]["broken"], True)

    def test_latency_duplicate(self) -> None:
        """A message delivered twice: exit 3."""
        bench = self.latency([0, 1, 1, 2])
        self.assertEqual([p.what for p in bench.problems], ["1 messages arrived more than once (message 1)"])
        self.assertEqual(self.quietly(bench.finish, 1.0), 3)

    def test_latency_driver_failed(self) -> None:
        """A latency driver that fails: a problem naming it, the run goes on, exit 3."""
        bench = self.bench(FakeDrivers(self.bench_run.DriverFailed("driver failed (exit 1): boom\n--- stderr ---")))
        self.quietly(bench._latency_one, "latency", 0, "txzaqar Subscriber poll 0.1s", "tx", {})
        self.assertEqual([p.what for p in bench.problems], ["driver failed: driver failed (exit 1): boom"])
        self.assertEqual(self.quietly(bench.finish, 1.0), 3)

    def test_break_delivery_spec(self) -> None:
        """C{--break-delivery} asks the Subscriber's latency drivers (only) to drop a message."""
        drivers = FakeDrivers(_latency_result([0, 1, 2]), _latency_result([0, 1, 2]))
        bench = self.bench(drivers, break_delivery=True)
        self.quietly(bench._latency_one, "latency", 0, "txzaqar Subscriber poll 0.1s", "tx", {})
        self.quietly(bench._latency_one, "latency", 0, "official poll 0.1s", "official", {"interval": 0.1})
        self.assertEqual([spec.get("drop_first") for _, spec in drivers.specs], [True, None])

    def test_consume_short(self) -> None:
        """A consume run that consumed fewer messages than it was given: a problem, exit 3."""
        n = 200
        drivers = FakeDrivers({"messages": n}, {"messages": n - 1, "seconds": 1.0, "cpu": 0.1})
        bench = self.bench(drivers, only=["consume"])
        self.quietly(bench._consume_one, "gunicorn", "ceiling", 0, n, 1000)
        self.assertEqual([p.what for p in bench.problems], ["consumed 199 of 200 messages"])
        self.assertEqual(bench.records, [])
        self.assertEqual(self.quietly(bench.finish, 1.0), 3)

    def test_consume_duplicate_callback(self) -> None:
        """A Subscriber that called back twice for one message: a problem."""
        n = 200
        result = {"messages": n, "delivered": n, "callbacks": n + 1, "seconds": 1.0, "cpu": 0.1}
        bench = self.bench(FakeDrivers({"messages": n}, result), only=["consume"])
        self.quietly(bench._consume_one, "gunicorn", "txzaqar Subscriber", 0, n, 1000)
        self.assertEqual([p.what for p in bench.problems], ["1 callbacks for messages already delivered"])

    def test_consume_fill_short(self) -> None:
        """A fill that posted too few: the variant is a failed driver (guarded), the next one runs."""
        n = 200
        drivers = FakeDrivers({"messages": n - 5}, {"messages": n}, {"messages": n, "seconds": 2.0, "cpu": 0.1})
        bench = self.bench(drivers, only=["consume"])
        for variant in ("ceiling", "official bulk"):
            with redirect_stderr(io.StringIO()), bench.guarded("consume", f"{variant} on gunicorn", 0):
                bench._consume_one("gunicorn", variant, 0, n, 1000)
        self.assertEqual(len(bench.problems), 1)
        self.assertIn("200 messages posted", bench.problems[0].what)
        self.assertEqual([r["variant"] for r in bench.records], ["official bulk"] * 2)

    def scrape(self, delivered: int, held: list[float], **kw: Any) -> Any:
        queues = 20 if kw.get("smoke", True) else 1000
        result = {"queues": queues, "held_ms": held, "idle_ms": [1.0] * len(held), "bytes": 100,
                  "lines": 10, "delivered": delivered}
        drivers = FakeDrivers(result)
        bench = self.bench(drivers, only=["scrape"], **kw)
        self.quietly(bench.w_scrape, 0)
        self.assertEqual(drivers.specs, [("scrape", {"op": "scrape", **bench.sizes["scrape"]})])
        return bench

    def test_scrape_recorded(self) -> None:
        """The scrape driver's figures: the median of its scrapes' gaps is recorded; smoke: exit 0."""
        bench = self.scrape(20, [3.0, 40.0, 5.0])
        held = [r["value"] for r in bench.records if r["metric"] == "reactor held ms"]
        self.assertEqual(held, [5.0])
        self.assertEqual(self.quietly(bench.finish, 1.0), 0)
        self.assertIn("not judged at smoke size  scrape cost", self.output)

    def test_scrape_not_delivered(self) -> None:
        """A scrape run whose Subscriber did not deliver every queue's message: a problem, exit 3."""
        bench = self.scrape(19, [3.0])
        self.assertEqual([p.what for p in bench.problems], ["19 of 20 queues' messages delivered"])
        self.assertEqual(bench.records, [])
        self.assertEqual(self.quietly(bench.finish, 1.0), 3)

    def test_scrape_goal_not_met(self) -> None:
        """A full-size scrape run at 1,000 queues over the goal: NOT MET, exit 4."""
        bench = self.scrape(1000, [30.0, 25.0, 35.0], smoke=False)
        self.assertEqual(self.quietly(bench.finish, 1.0), 4)
        self.assertIn("NOT MET  scrape cost", self.output)
        self.assertIn(": 30.0 ms (idle gap 1.0 ms)", self.output)

    def test_driver_result(self) -> None:
        """A driver that exits non-zero, or prints no result, raises DriverFailed."""
        result = self.bench_run.Drivers._result
        self.assertRaises(self.bench_run.DriverFailed, result, ["python", "-m", "x", "{}"], 1, '{"a": 1}', "")
        self.assertRaises(self.bench_run.DriverFailed, result, ["python", "-m", "x", "{}"], 0, "no json", "")
        self.assertEqual(result(["python", "-m", "x", "{}"], 0, 'READY\n{"a": 1}\n', ""), {"a": 1})

    def test_driver_timeout(self) -> None:
        """A driver that runs past its timeout raises DriverFailed."""
        def run(cmd: list[str], **kw: Any) -> None:
            raise subprocess.TimeoutExpired(cmd, kw["timeout"])

        self.patch(self.bench_run.subprocess, "run", run)
        failure = self.assertRaises(self.bench_run.DriverFailed, self.bench_run.Drivers(Path("/nonexistent")).run,
                                    "tx", {"op": "latency"}, 30)
        self.assertIn("driver ran past its 30 s timeout", str(failure))

    def full_run_not_met(self, smoke: bool) -> Any:
        bench = self.bench(FakeDrivers(), smoke=smoke)
        for variant, rate in (("official", 100.0), ("txzaqar", 150.0)):  # x1.5, the goal is x2
            bench.record("post1", "gunicorn", variant, 0, "msg/s", rate)
        return bench

    def test_full_run_not_met(self) -> None:
        """A correct full run with a goal NOT MET exits 4."""
        bench = self.full_run_not_met(smoke=False)
        self.assertEqual(self.quietly(bench.finish, 1.0), 4)
        self.assertIn("NOT MET  post 1/request", self.output)
        self.assertIn("verdict: exit 4", self.output)

    def test_smoke_run_not_judged(self) -> None:
        """The same figures at smoke size: not judged, exit 0."""
        bench = self.full_run_not_met(smoke=True)
        self.assertEqual(self.quietly(bench.finish, 1.0), 0)
        self.assertIn("not judged at smoke size  post 1/request: txzaqar >= 2x official: x1.50", self.output)
        self.assertNotIn("NOT MET  ", self.output)


class ArrivalsTests(SynchronousTestCase):
    """C{bench._common.Arrivals}: when a latency driver is done, and the message it drops when broken."""

    def setUp(self) -> None:
        self.Arrivals = bench_module("_common").Arrivals

    def test_done_on_distinct(self) -> None:
        """Done once C{expect} different messages came: a duplicate does not count."""
        arrivals = self.Arrivals(3)
        self.assertEqual([arrivals.arrived(n) for n in (0, 1, 1)], [True, True, True])
        self.assertNoResult(arrivals.done)
        arrivals.arrived(2)
        self.successResultOf(arrivals.done)

    def test_drop_first(self) -> None:
        """C{drop_first}: the first message is not to be recorded, and it still counts as arrived."""
        arrivals = self.Arrivals(2, drop_first=True)
        self.assertEqual([arrivals.arrived(n) for n in (5, 6)], [False, True])
        self.successResultOf(arrivals.done)


class GateCheckTests(SynchronousTestCase):
    """C{bench.gate_check.judge}: the broken run must exit 3 and name exactly the dropped message."""

    def setUp(self) -> None:
        self.gate = bench_module("gate_check")
        self.lost = {"workload": "latency", "variant": "txzaqar Subscriber poll 0.1s", "rep": 0,
                     "what": "1 of 3 messages never arrived (message 0)"}

    def test_caught(self) -> None:
        """Exit 3, one problem naming message 0: the gate works."""
        self.assertEqual(self.gate.judge(3, {"problems": [self.lost]}), [])

    def test_not_caught(self) -> None:
        """Exit 0 and no problem: the gate is broken."""
        wrong = self.gate.judge(0, {"problems": []})
        self.assertEqual(len(wrong), 2, wrong)

    def test_crashed(self) -> None:
        """Exit 1 (a traceback) and no results: not a working gate either."""
        self.assertEqual(len(self.gate.judge(1, None)), 2)

    def test_other_problems(self) -> None:
        """Another problem besides the dropped message: the run was broken for another reason."""
        other = {**self.lost, "what": "driver failed: boom"}
        self.assertEqual(len(self.gate.judge(3, {"problems": [self.lost, other]})), 1)

    def test_command(self) -> None:
        """The broken run: smoke size, one Subscriber latency variant, --break-delivery, results in C{out}."""
        command = self.gate.command(Path("/tmp/x"), ["--reps", "1"])
        self.assertEqual(command[1:3], ["-m", "bench"])
        for option in ("--smoke", "--break-delivery", "--no-plot"):
            self.assertIn(option, command)
        self.assertEqual(command[command.index("--out") + 1], "/tmp/x")
        self.assertEqual(command[-2:], ["--reps", "1"])


class MainTests(SynchronousTestCase):
    """C{python -m bench}'s options."""

    def setUp(self) -> None:
        self.bench_run = bench_module("run")

    def test_break_delivery_hidden(self) -> None:
        """C{--break-delivery} is not in C{--help}."""
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertRaises(SystemExit, self.bench_run.main, ["--help"])
        self.assertNotIn("break", out.getvalue())

    def test_break_delivery_needs_a_subscriber_latency_run(self) -> None:
        """Without a Subscriber latency variant to break, C{--break-delivery} is a usage error (2)."""
        for argv in (["--only", "post"], ["--variants", "official"], ["--servers", "builtin"]):
            with redirect_stderr(io.StringIO()) as err:
                failure = self.assertRaises(SystemExit, self.bench_run.main, ["--smoke", "--break-delivery", *argv])
            self.assertEqual(failure.code, 2, argv)
            self.assertIn("--break-delivery needs", err.getvalue())

    def test_breakable(self) -> None:
        """A run with latency on gunicorn and a Subscriber variant can be broken."""
        args = argparse.Namespace(servers=["gunicorn"], only=["latency"], variants=["Subscriber poll 0.1s"])
        self.assertTrue(self.bench_run.breakable(args))
