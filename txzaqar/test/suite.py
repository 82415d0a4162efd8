"""
C{python -m txzaqar.test.suite [--temp-directory DIR] [NAME ...]}: the
trial suite (default C{txzaqar}), run as trial runs it, that also fails on
a skipped test which is not on L{ALLOWED_SKIPS}.

A skip hides a whole test (or, raised in a C{setUp}, a whole class): an
environment variable left set (C{TXZAQAR_ZAQAR_URL} turns off the built-in
server's contract class), a pool left behind by an earlier test, or a
missing source checkout would otherwise turn a suite off and still pass.
The only skips expected are the contract suite's server-quirk tests on the
in-memory backend, which does not claim to have Zaqar 23's bugs, and, on a
machine without systemd, the checks of the shipped systemd units.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from twisted.trial.reporter import TreeReporter
from twisted.trial.runner import TestLoader, TrialRunner
from twisted.trial.unittest import TestSuite

__all__ = ["ALLOWED_SKIPS", "NO_SYSTEMD_REASON", "QUIRK_REASON", "TimedReporter", "flatten", "main", "shard", "slowest", "unexpected_skips"]

#: The reason the contract suite gives for a quirk test on a backend without the quirk.
QUIRK_REASON = "asserts a Zaqar 23.0.1 server quirk this backend does not claim to have"

#: (test id pattern, reason) of the only skips a run may have.
#: Why the unit-file checks skip on a machine without systemd (the issue asks for them where it exists).
NO_SYSTEMD_REASON = "systemd-analyze is not installed here (it comes with systemd): the units are not checked"

ALLOWED_SKIPS = (
    (re.compile(r"txzaqar\.test\.unit\.test_contract_memory\.MemoryZaqarContractTests\.test_quirk_\w+"),
     QUIRK_REASON),
    (re.compile(r"txzaqar\.test\.unit\.test_systemd_units\.ShippedUnitTests\.test_\w+"), NO_SYSTEMD_REASON),
)


def unexpected_skips(skips: Sequence[tuple[object, object]]) -> list[str]:
    """
    The skips (C{(test, reason)} pairs, as a trial result holds them) that
    are not on L{ALLOWED_SKIPS}, one line each: the test's id and the reason.
    """
    found = []
    for test, reason in skips:
        test_id = test.id() if hasattr(test, "id") else str(test)
        text = str(getattr(reason, "args", [reason])[0]) if isinstance(reason, BaseException) else str(reason)
        if not any(pattern.fullmatch(test_id) and text == allowed for pattern, allowed in ALLOWED_SKIPS):
            found.append(f"{test_id}: {text}")
    return found


class TimedReporter(TreeReporter):
    """Trial's tree reporter that also records each test's duration (C{durations}: id to seconds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.durations: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def startTest(self, test: Any) -> None:  # noqa: N802 (trial's name)
        self._started[test.id()] = time.monotonic()
        super().startTest(test)

    def stopTest(self, test: Any) -> None:  # noqa: N802 (trial's name)
        super().stopTest(test)
        started = self._started.pop(test.id(), None)
        if started is not None:
            self.durations[test.id()] = time.monotonic() - started


def slowest(durations: dict[str, float], count: int) -> list[str]:
    """
    The report of where a run's time went: the C{count} slowest tests and
    the C{count} slowest modules (summed over their tests), one line each.
    """
    by_module: dict[str, float] = {}
    for test_id, seconds in durations.items():
        module = test_id.rsplit(".", 2)[0]
        by_module[module] = by_module.get(module, 0.0) + seconds
    tests = sorted(durations.items(), key=lambda item: -item[1])[:count]
    lines = [f"slowest tests (of {len(durations)}, {sum(durations.values()):.0f} s in all):"]
    lines += [f"  {seconds:7.1f} s  {test_id}" for test_id, seconds in tests]
    lines.append("slowest modules:")
    lines += [f"  {seconds:7.1f} s  {module}" for module, seconds in sorted(by_module.items(), key=lambda item: -item[1])[:count]]
    return lines


def flatten(suite: Any) -> list[Any]:
    """The tests of a (nested) trial suite, in order."""
    if hasattr(suite, "__iter__"):
        return [test for child in suite for test in flatten(child)]
    return [suite]


def shard(tests: Sequence[Any], index: int, count: int) -> list[Any]:
    """
    The tests of shard C{index} of C{count}: whole test classes, dealt out in
    the order of their names, so that the classes of one module spread over
    the shards and a class's tests run in one process, in their order.
    """
    classes = sorted({test.id().rsplit(".", 1)[0] for test in tests})
    mine = {name for position, name in enumerate(classes) if position % count == index}
    return [test for test in tests if test.id().rsplit(".", 1)[0] in mine]


def _run(options: argparse.Namespace) -> int:
    loaded = TestLoader().loadByNames(options.names, recurse=True)
    if options.shard:
        index, count = (int(part) for part in options.shard.split("/"))
        loaded = TestSuite(shard(flatten(loaded), index, count))
    runner = TrialRunner(TimedReporter, workingDirectory=options.temp_directory, stream=sys.stdout)
    result = runner.run(loaded)
    durations = cast(Any, result).durations
    unexpected = unexpected_skips(cast(Any, result).skips)  # a TestResult's list; IReporter does not name it
    passed = result.wasSuccessful() and not unexpected
    if options.summary:
        Path(options.summary).write_text(json.dumps(
            {"durations": durations, "unexpected": unexpected, "passed": passed}))
    _report(durations if options.slowest > 0 else {}, unexpected, options.slowest)
    return 0 if passed else 1


def _report(durations: dict[str, float], unexpected: list[str], count: int) -> None:
    if durations:
        print("\n" + "\n".join(slowest(durations, count)))
    if unexpected:
        print(f"\n{len(unexpected)} skipped test(s) not on txzaqar.test.suite.ALLOWED_SKIPS "
              "(a skip must not hide a suite):")
        for line in unexpected:
            print(f"  {line}")


def _run_jobs(options: argparse.Namespace) -> int:
    """The suite in C{options.jobs} processes at once (L{shard}), their output one after another."""
    temp = Path(options.temp_directory)
    temp.mkdir(parents=True, exist_ok=True)
    jobs = []
    for index in range(options.jobs):
        output = (temp / f"shard-{index}.out").open("w+")
        command = [sys.executable, "-m", "txzaqar.test.suite", "--temp-directory", str(temp / f"shard-{index}"),
                   "--shard", f"{index}/{options.jobs}", "--slowest", "0",
                   "--summary", str(temp / f"shard-{index}.json"), *options.names]
        jobs.append((index, output, subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)))
    durations: dict[str, float] = {}
    unexpected: list[str] = []
    passed = True
    for index, output, process in jobs:
        code = process.wait()
        output.seek(0)
        print(f"===== shard {index + 1} of {options.jobs} (exit status {code}) =====")
        sys.stdout.write(output.read())
        output.close()
        summary_file = temp / f"shard-{index}.json"
        if code != 0 or not summary_file.exists():
            passed = False
        if summary_file.exists():
            summary = json.loads(summary_file.read_text())
            durations.update(summary["durations"])
            unexpected += summary["unexpected"]
    passed = passed and not unexpected
    _report(durations if options.slowest > 0 else {}, unexpected, options.slowest)
    print(f"\n{'PASSED' if passed else 'FAILED'}: {len(durations)} tests in {options.jobs} processes")
    return 0 if passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; 0 when it passed with no unexpected skip, else 1."""
    parser = argparse.ArgumentParser(
        prog="python -m txzaqar.test.suite",
        description="the trial suite, failing on a skip not on txzaqar.test.suite.ALLOWED_SKIPS")
    parser.add_argument("--temp-directory", default="_trial_temp", help="trial's working directory")
    parser.add_argument("--slowest", type=int, default=12, metavar="N",
                        help="print the N slowest tests and modules at the end (0: none)")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="run the tests in N processes at once, each with its own servers (whole test "
                             "classes dealt out); the run passes when every process passed")
    parser.add_argument("--shard", metavar="I/N", help=argparse.SUPPRESS)
    parser.add_argument("--summary", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("names", nargs="*", default=["txzaqar"], help="modules, classes or tests to run")
    options = parser.parse_args(argv)
    if options.jobs < 1:
        parser.error("--jobs must be at least 1")
    return _run_jobs(options) if options.jobs > 1 else _run(options)


if __name__ == "__main__":
    sys.exit(main())
