"""Tests for L{txzaqar.test.suite}: a run fails on a skip that is not on the named list."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from txzaqar.test.suite import NO_SYSTEMD_REASON, QUIRK_REASON, shard, slowest, unexpected_skips

QUIRK_TEST = "txzaqar.test.unit.test_contract_memory.MemoryZaqarContractTests.test_quirk_8_1_marker"

#: A module of tests: one passes, one skips (for C{run}).
SKIPPING = '''
from twisted.trial.unittest import SynchronousTestCase, SkipTest

class T(SynchronousTestCase):
    def test_passes(self):
        pass

    def test_skips(self):
        if SKIP:
            raise SkipTest("an environment variable turned this off")


class U(SynchronousTestCase):
    def test_fails_when_asked(self):
        if FAIL:
            self.fail("asked to fail")
'''


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    def id(self) -> str:
        return self.name


class UnexpectedSkipsTests(SynchronousTestCase):
    def test_quirk_tests_of_the_memory_backend_are_allowed(self) -> None:
        self.assertEqual(unexpected_skips([(Named(QUIRK_TEST), QUIRK_REASON)]), [])
        self.assertEqual(unexpected_skips([(Named(QUIRK_TEST), SkipTest(QUIRK_REASON))]), [])

    def test_unit_checks_without_systemd_are_allowed(self) -> None:
        unit = "txzaqar.test.unit.test_systemd_units.ShippedUnitTests.test_exposure"
        self.assertEqual(unexpected_skips([(Named(unit), SkipTest(NO_SYSTEMD_REASON))]), [])
        self.assertEqual(len(unexpected_skips([(Named(unit), "another reason")])), 1)
        content = "txzaqar.test.unit.test_systemd_units.UnitContentTests.test_each_unit"
        self.assertEqual(len(unexpected_skips([(Named(content), SkipTest(NO_SYSTEMD_REASON))])), 1)

    def test_anything_else_is_reported(self) -> None:
        contract = "txzaqar.test.integration.test_contract_real.BuiltinZaqarContractTests.test_post"
        self.assertEqual(unexpected_skips([
            (Named(contract), "$TXZAQAR_ZAQAR_URL selects one external server"),
            (Named(QUIRK_TEST), "another reason"),
            (Named(QUIRK_TEST.replace("test_contract_memory", "test_contract_real")), QUIRK_REASON),
        ]), [
            f"{contract}: $TXZAQAR_ZAQAR_URL selects one external server",
            f"{QUIRK_TEST}: another reason",
            f"{QUIRK_TEST.replace('test_contract_memory', 'test_contract_real')}: {QUIRK_REASON}",
        ])


class RunTests(SynchronousTestCase):
    def run_suite(self, skip: bool, fail: bool = False, jobs: int = 1) -> tuple[int, str]:
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory, True)
        (directory / "skipping_for_suite_test.py").write_text(f"SKIP = {skip}\nFAIL = {fail}\n" + SKIPPING)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(directory), *sys.path]))
        done = subprocess.run([sys.executable, "-m", "txzaqar.test.suite", "--temp-directory",
                               str(directory / "_trial_temp"), "--jobs", str(jobs), "skipping_for_suite_test"],
                              cwd=directory, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr

    def test_a_skip_fails_the_run(self) -> None:
        code, out = self.run_suite(skip=True)
        self.assertEqual(code, 1, out)
        self.assertIn("1 skipped test(s) not on txzaqar.test.suite.ALLOWED_SKIPS", out)
        self.assertIn("skipping_for_suite_test.T.test_skips: an environment variable turned this off", out)

    def test_no_skip_passes(self) -> None:
        code, out = self.run_suite(skip=False)
        self.assertEqual(code, 0, out)
        self.assertIn("PASSED (successes=3)", out)

    def test_jobs_pass_together(self) -> None:
        code, out = self.run_suite(skip=False, jobs=2)
        self.assertEqual(code, 0, out)
        self.assertIn("PASSED: 3 tests in 2 processes", out)
        self.assertIn("===== shard 2 of 2 (exit status 0) =====", out)

    def test_a_skip_in_one_job_fails_the_run(self) -> None:
        code, out = self.run_suite(skip=True, jobs=2)
        self.assertEqual(code, 1, out)
        self.assertIn("1 skipped test(s) not on txzaqar.test.suite.ALLOWED_SKIPS", out)
        self.assertIn("FAILED: 3 tests in 2 processes", out)

    def test_a_failure_in_one_job_fails_the_run(self) -> None:
        code, out = self.run_suite(skip=False, fail=True, jobs=2)
        self.assertEqual(code, 1, out)
        self.assertIn("asked to fail", out)
        self.assertIn("FAILED: 3 tests in 2 processes", out)


class ShardTests(SynchronousTestCase):
    def test_every_test_once_classes_whole(self) -> None:
        tests = [Named(f"m{m}.C{c}.test_{t}") for m in range(3) for c in range(3) for t in range(2)]
        shards = [shard(tests, index, 4) for index in range(4)]
        self.assertEqual(sorted(t.id() for part in shards for t in part), sorted(t.id() for t in tests))
        for part in shards:
            self.assertTrue(part)
            classes = {t.id().rsplit(".", 1)[0] for t in part}
            self.assertEqual(len(part), 2 * len(classes))
        self.assertEqual([t.id() for t in shard(tests, 0, 1)], [t.id() for t in tests])


class SlowestTests(SynchronousTestCase):
    def test_tests_and_modules_slowest_first(self) -> None:
        lines = slowest({"a.m.C.test_1": 1.0, "a.m.C.test_2": 4.0, "a.n.D.test_3": 3.0}, 2)
        self.assertEqual(lines, [
            "slowest tests (of 3, 8 s in all):",
            "      4.0 s  a.m.C.test_2",
            "      3.0 s  a.n.D.test_3",
            "slowest modules:",
            "      5.0 s  a.m",
            "      3.0 s  a.n",
        ])
