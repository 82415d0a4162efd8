"""
One run, one table: the README's benchmark tables are the ones
C{bench.readme_tables} generates from the committed run
(C{bench/results/reference.json}); and the anchors the tables compare
against (C{bench.summary.best}, C{bench.run.consume_config},
C{bench.run.max_claim_in}).
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.test.helpers.bench import bench_module, checkout


def _record(variant: str, rep: int, value: float, workload: str = "consume", metric: str = "msg/s",
            server: str = "gunicorn") -> dict[str, Any]:
    return {"workload": workload, "server": server, "variant": variant, "rep": rep, "metric": metric,
            "value": value}


def _reference() -> tuple[Path, dict[str, Any]]:
    bench_module("readme_tables")  # skips without a checkout
    tree = checkout()
    assert tree is not None  # bench_module skipped otherwise
    return tree, json.loads((tree / "bench" / "results" / "reference.json").read_text())


class ReadmeTablesTests(SynchronousTestCase):
    """The README's generated part against the committed run."""

    def setUp(self) -> None:
        self.tables = bench_module("readme_tables")
        self.tree, self.data = _reference()
        self.readme = (self.tree / "README.rst").read_text()

    def test_readme_matches_the_committed_run(self) -> None:
        """The README's tables are exactly the ones generated from bench/results/reference.json."""
        diff = self.tables.differences(self.readme, self.data)
        self.assertEqual(diff, [], "README.rst's benchmark tables differ from bench/results/reference.json; "
                                   "run python -m bench.readme_tables --write README.rst\n" + "\n".join(diff))

    def test_a_changed_figure_is_seen(self) -> None:
        """One figure of the README changed: the check reports it (so the test above can fail)."""
        _, inner, _ = self.tables.split_readme(self.readme)
        row = next(r for r in self.data["table"] if r["workload"] == "consume" and r["metric"] == "msg/s")
        shown = self.tables.number(row["median"])
        self.assertIn(shown, inner)
        changed = self.readme.replace(inner, inner.replace(shown, shown + "1", 1))
        self.assertNotEqual(self.tables.differences(changed, self.data), [])

    def test_a_different_run_is_seen(self) -> None:
        """The README against another run's JSON (one goal's verdict changed): not equal."""
        other = json.loads(json.dumps(self.data))
        other["goals"][0]["status"] = "MET" if other["goals"][0]["status"] != "MET" else "NOT MET"
        self.assertNotEqual(self.tables.differences(self.readme, other), [])

    def test_the_reference_is_a_full_run(self) -> None:
        """The committed run is a full run of every workload, correct, with the sweeps and the defaults row."""
        args = self.data["args"]
        self.assertFalse(args["smoke"])
        self.assertEqual(self.data["problems"], [])
        variants = {r["variant"] for r in self.data["table"] if r["workload"] == "consume"}
        summary = bench_module("summary")
        self.assertIn(summary.SUBSCRIBER_DEFAULTS, variants)
        self.assertIn(summary.SUBSCRIBER_TUNED, variants)
        self.assertGreater(len([v for v in variants if v.startswith(summary.OFFICIAL_SWEEP)]), 2)
        self.assertGreater(len([v for v in variants if v.startswith(summary.CEILING_SWEEP)]), 2)

    def test_the_readme_names_the_command(self) -> None:
        """The README shows the command that made the committed run."""
        self.assertIn(self.tables.command(self.data["args"]), " ".join(self.readme.split()))

    def test_check_mode(self) -> None:
        """``--check README`` exits 0 on the README, 1 (printing a diff) on a changed copy."""
        reference = str(self.tree / "bench" / "results" / "reference.json")
        with redirect_stdout(io.StringIO()):
            self.assertEqual(self.tables.main([reference, "--check", str(self.tree / "README.rst")]), 0)
        _, inner, _ = self.tables.split_readme(self.readme)
        changed = Path(self.mktemp())
        changed.write_text(self.readme.replace(inner, inner.replace("MET", "MAT", 1)))
        out = io.StringIO()
        with redirect_stdout(out), redirect_stderr(io.StringIO()):
            self.assertEqual(self.tables.main([reference, "--check", str(changed)]), 1)
        self.assertIn("+", out.getvalue())

    def test_write_mode(self) -> None:
        """``--write README`` replaces only the generated part."""
        reference = str(self.tree / "bench" / "results" / "reference.json")
        _, inner, _ = self.tables.split_readme(self.readme)
        stale = Path(self.mktemp())
        stale.write_text(self.readme.replace(inner, "stale figures\n"))
        self.assertEqual(self.tables.main([reference, "--write", str(stale)]), 0)
        self.assertEqual(stale.read_text(), self.readme)


class GeneratedTextTests(SynchronousTestCase):
    """C{bench.readme_tables}'s pieces."""

    def setUp(self) -> None:
        self.tables = bench_module("readme_tables")

    def test_simple_table(self) -> None:
        """Columns as wide as their widest cell, two spaces apart, rules of '='."""
        text = self.tables.simple_table([["a", "bb"], ["", "c"]], [["xyz", "1"]])
        self.assertEqual(text.splitlines(), ["===  ==", "a    bb", "     c", "===  ==", "xyz  1", "===  =="])

    def test_simple_table_refuses_an_empty_first_cell(self) -> None:
        """A body row with an empty first cell would be joined to the row above by RST."""
        self.assertRaises(ValueError, self.tables.simple_table, [["a", "b"]], [["", "1"]])

    def test_number(self) -> None:
        """About three significant digits, thousands separated; -- for none."""
        number = self.tables.number
        self.assertEqual([number(12345.6), number(123.4), number(12.34), number(1.234), number(0.1234)],
                         ["12,346", "123", "12.3", "1.23", "0.123"])
        self.assertEqual((number(None), number(5.0, " ms")), ("--", "5.00 ms"))

    def test_split_readme_needs_the_markers(self) -> None:
        """No markers, or an end before the beginning: refused."""
        split = self.tables.split_readme
        self.assertRaises(ValueError, split, "no tables here\n")
        self.assertRaises(ValueError, split, f"{self.tables.END}\n{self.tables.BEGIN}\n")
        self.assertEqual(split(f"a\n{self.tables.BEGIN}\n\nx\n\n{self.tables.END}\nb\n"),
                         (f"a\n{self.tables.BEGIN}\n", "x\n", f"{self.tables.END}\nb\n"))

    def test_command(self) -> None:
        """The command line from a run's arguments: only what differs from the defaults, besides reps and servers."""
        run = bench_module("run")
        args = {"smoke": False, "reps": 2, "servers": ["gunicorn"], "only": list(run.Bench.WORKLOADS),
                "variants": [], "latency_messages": None}
        self.assertEqual(self.tables.command(args), "python -m bench --reps 2 --servers gunicorn")
        args.update(only=["consume"], latency_messages=40)
        self.assertEqual(self.tables.command(args),
                         "python -m bench --reps 2 --servers gunicorn --only consume --latency-messages 40")

    def test_best_marked(self) -> None:
        """The consume table marks the best official configuration and the best ceiling."""
        summary = bench_module("summary")
        records = [_record("official documented", 0, 300.0), _record("official bulk 2 threads claim 20", 0, 900.0),
                   _record("official bulk 4 threads claim 20", 0, 1200.0), _record("ceiling 8 loops", 0, 2000.0),
                   _record("ceiling 16 loops", 0, 1900.0)]
        table, _ = summary.summarize(records, [], summary.Scale(smoke=False, queues=1000))
        text = self.tables.consume_table(self.tables.Run({"table": table, "records": records,
                                                          "args": {"servers": ["gunicorn"]}}))
        marked = [line.split("  ")[0] for line in text.splitlines() if "(best)" in line]
        self.assertEqual(marked, ["official bulk 4 threads claim 20 (best)", "ceiling 8 loops (best)"])


    def test_consume_findings(self) -> None:
        """The words under the consume table: the best configurations and the per-repetition ratios to them."""
        summary = bench_module("summary")
        records = []
        for rep, (official, ceiling, tuned) in enumerate([(1000.0, 2000.0, 2200.0), (1000.0, 2000.0, 2600.0)]):
            records += [_record("official documented", rep, 250.0), _record(summary.SUBSCRIBER_DEFAULTS, rep, 750.0),
                        _record("official bulk 4 threads claim 20", rep, official),
                        _record("ceiling 16 loops", rep, ceiling), _record(summary.SUBSCRIBER_TUNED, rep, tuned)]
        table, _ = summary.summarize(records, [], summary.Scale(smoke=False, queues=1000))
        text = " ".join(self.tables.consume_findings(self.tables.Run({"table": table, "records": records,
                                                                      "args": {"servers": ["gunicorn"]}})).split())
        self.assertIn("best configuration was official bulk 4 threads claim 20 (1,000 msg/s, x4.00 its", text)
        self.assertIn("drained x3.00 as fast as the documented loop", text)
        self.assertIn("240% of the best official configuration's rate and 120% of the best ceiling's "
                      "(ceiling 16 loops). The ceiling is the best of its sweep", text)


class AnchorTests(SynchronousTestCase):
    """The anchors: the best of a sweep, the consume rows, the server's largest claim."""

    def setUp(self) -> None:
        self.summary = bench_module("summary")
        self.bench_run = bench_module("run")

    def test_best_by_median(self) -> None:
        """The best configuration has the highest median over the repetitions, not the highest value."""
        records = [_record("official bulk 2 threads claim 20", 0, 1000.0),
                   _record("official bulk 2 threads claim 20", 1, 1000.0),
                   _record("official bulk 2 threads claim 20", 2, 1000.0),
                   _record("official bulk 8 threads claim 20", 0, 5000.0),
                   _record("official bulk 8 threads claim 20", 1, 500.0),
                   _record("official bulk 8 threads claim 20", 2, 600.0),
                   _record("official documented", 0, 9000.0)]
        self.assertEqual(self.summary.best(records, "consume", "gunicorn", self.summary.OFFICIAL_SWEEP),
                         "official bulk 2 threads claim 20")

    def test_best_of_nothing(self) -> None:
        """No row of the sweep (or only on another server or metric): None."""
        records = [_record("ceiling 8 loops", 0, 10.0, server="builtin"),
                   _record("ceiling 8 loops", 0, 10.0, metric="client CPU ms/msg")]
        self.assertIsNone(self.summary.best(records, "consume", "gunicorn", self.summary.CEILING_SWEEP))

    def test_goals_against_the_best(self) -> None:
        """The tuned Subscriber is judged against the best official configuration and the best ceiling."""
        s = self.summary
        records = []
        for rep in (0, 1):
            records += [_record("official documented", rep, 100.0), _record(s.SUBSCRIBER_DEFAULTS, rep, 500.0),
                        _record(s.SUBSCRIBER_TUNED, rep, 1500.0),
                        _record("official bulk 1 thread claim 20", rep, 400.0),
                        _record("official bulk 4 threads claim 20", rep, 1200.0),
                        _record("ceiling 4 loops", rep, 1400.0), _record("ceiling 16 loops", rep, 2000.0)]
        _, goals = s.summarize(records, [], s.Scale(smoke=False, queues=1000))
        by_start = {g["goal"].split(" >= ")[0]: g for g in goals if g["goal"].startswith("consume")}
        defaults = by_start["consume, defaults against defaults: Subscriber (10/10/1)"]
        self.assertEqual((defaults["measured"], defaults["status"]), (5.0, "NOT MET"))
        tuned = [g for g in goals if "best official configuration" in g["goal"] and g["goal"].startswith("consume")]
        self.assertEqual([(g["measured"], g["status"]) for g in tuned], [(1.25, "NOT MET")])
        self.assertIn("(official bulk 4 threads claim 20)", tuned[0]["goal"])
        (ceiling,) = [g for g in goals if "of the ceiling" in g["goal"]]
        self.assertEqual((ceiling["measured"], ceiling["status"]), (0.75, "NOT MET"))
        self.assertIn("(ceiling 16 loops)", ceiling["goal"])

    def test_consume_config(self) -> None:
        """Each consume row's label says how it runs."""
        config = self.bench_run.consume_config
        self.assertEqual(config("official documented", 8),
                         {"kind": "official", "mode": "documented", "threads": 1, "limit": 10})
        self.assertEqual(config(self.bench_run.official_label("bulk", 4, 20), 8),
                         {"kind": "official", "mode": "bulk", "threads": 4, "limit": 20})
        self.assertEqual(config(self.bench_run.official_label("documented", 1, 20), 8),
                         {"kind": "official", "mode": "documented", "threads": 1, "limit": 20})
        self.assertEqual(config(self.bench_run.ceiling_label(32), 8), {"kind": "ceiling", "loops": 32})
        self.assertEqual(config("ceiling", 8), {"kind": "ceiling", "loops": 8})
        self.assertEqual(config(self.bench_run.SUBSCRIBER_DEFAULTS, 8), {"kind": "tx", "options": {}})
        self.assertEqual(config(self.bench_run.SUBSCRIBER_TUNED, 8),
                         {"kind": "tx", "options": {"batch": 20, "concurrency": 80, "claims_in_flight": 4}})
        self.assertRaises(ValueError, config, "official fastest", 8)

    def test_consume_variants_sweep(self) -> None:
        """A full run sweeps 1-8 threads (both loops, the largest claim) and 4-32 ceiling loops; smoke one of each."""
        for sizes, threads, loops in ((self.bench_run.FULL, [1, 2, 4, 8], [4, 8, 16, 32]), (self.bench_run.SMOKE, [2], [8])):
            bench = self.bench_run.Bench.__new__(self.bench_run.Bench)
            bench.sizes, bench.limits = sizes, {"gunicorn": 20}
            variants = bench.consume_variants("gunicorn")
            self.assertEqual(variants[0], "official documented")
            self.assertEqual([self.bench_run.consume_config(v, 8).get("threads") for v in variants
                              if v.startswith("official ") and v != "official documented"],
                             [t for t in threads for _ in (0, 1)])
            self.assertEqual([self.bench_run.consume_config(v, 8)["loops"] for v in variants if v.startswith("ceiling")],
                             loops)
            self.assertEqual({self.bench_run.consume_config(v, 8).get("limit") for v in variants
                              if v.startswith("official ") and v != "official documented"}, {20})

    def test_max_claim_in(self) -> None:
        """Zaqar's refusal of a too large claim names its limit; anything else names none."""
        answer = json.dumps({"title": "Invalid API request",
                             "description": "Limit must be at least 1 and may not be greater than 20."})
        self.assertEqual(self.bench_run.max_claim_in(answer), 20)
        self.assertIsNone(self.bench_run.max_claim_in('{"title": "Service temporarily unavailable"}'))
