"""
The README's scale part is the one C{bench.readme_scale} generates from
the committed scale run (C{bench/results/scale.json}): one daemon on
10,000 discovered queues with WebSocket push.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.test.helpers.bench import bench_module, checkout


class ReadmeScaleTests(SynchronousTestCase):
    """The README's scale part against the committed scale run."""

    def setUp(self) -> None:
        self.scale = bench_module("readme_scale")  # skips without a checkout
        tree = checkout()
        assert tree is not None
        self.tree = tree
        self.results = tree / "bench" / "results" / "scale.json"
        self.data = json.loads(self.results.read_text())
        self.readme = (tree / "README.rst").read_text()

    def test_readme_matches_the_committed_run(self) -> None:
        diff = self.scale.differences(self.readme, self.data)
        self.assertEqual(diff, [], "README.rst's scale part differs from bench/results/scale.json; "
                                   "run python -m bench.readme_scale --write README.rst\n" + "\n".join(diff))

    def test_a_changed_figure_is_seen(self) -> None:
        """One figure of the part changed: the check reports it (so the test above can fail)."""
        summary = bench_module("summary")
        tables = bench_module("readme_tables")
        _, inner, _ = tables.split_readme(self.readme, self.scale.BEGIN, self.scale.END)
        row = next(r for r in self.data["table"] if r["metric"] == summary.SCALE_IDLE)
        shown = tables.number(row["median"])
        self.assertIn(shown, inner)
        changed = self.readme.replace(inner, inner.replace(shown, shown + "1", 1))
        self.assertNotEqual(self.scale.differences(changed, self.data), [])

    def test_the_run_is_full_and_correct(self) -> None:
        """The committed run: full size (10,000 queues), the scale workload, nothing broken."""
        summary = bench_module("summary")
        self.assertFalse(self.data["args"]["smoke"])
        self.assertEqual(self.data["args"]["only"], ["scale"])
        self.assertEqual(self.data["sizes"]["scale"]["queues"], summary.SCALE_QUEUES)
        self.assertEqual(self.data["problems"], [])
        judged = [g for g in self.data["goals"] if g["goal"].startswith("10,000 discovered")]
        self.assertEqual(len(judged), 3)
        self.assertTrue(all(g["met"] is not None for g in judged), judged)

    def test_check_and_write(self) -> None:
        """``--check`` exits 0 on the README and 1 on a stale copy, which ``--write`` mends."""
        _, inner, _ = bench_module("readme_tables").split_readme(self.readme, self.scale.BEGIN, self.scale.END)
        with redirect_stdout(io.StringIO()):
            self.assertEqual(self.scale.main([str(self.results), "--check", str(self.tree / "README.rst")]), 0)
        stale = Path(self.mktemp())
        stale.write_text(self.readme.replace(inner, "stale figures\n"))
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            self.assertEqual(self.scale.main([str(self.results), "--check", str(stale)]), 1)
        self.assertEqual(self.scale.main([str(self.results), "--write", str(stale)]), 0)
        self.assertEqual(stale.read_text(), self.readme)
