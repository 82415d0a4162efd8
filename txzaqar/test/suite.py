"""
C{python -m txzaqar.test.suite [--temp-directory DIR] [NAME ...]}: the
trial suite (default C{txzaqar}), run as trial runs it, that also fails on
a skipped test which is not on L{ALLOWED_SKIPS}.

A skip hides a whole test (or, raised in a C{setUp}, a whole class): an
environment variable left set (C{TXZAQAR_ZAQAR_URL} turns off the built-in
server's contract class), a pool left behind by an earlier test, or a
missing source checkout would otherwise turn a suite off and still pass.
The only skips expected are the contract suite's server-quirk tests on the
in-memory backend, which does not claim to have Zaqar 23's bugs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any, cast

from twisted.trial.reporter import TreeReporter
from twisted.trial.runner import TestLoader, TrialRunner

__all__ = ["ALLOWED_SKIPS", "QUIRK_REASON", "main", "unexpected_skips"]

#: The reason the contract suite gives for a quirk test on a backend without the quirk.
QUIRK_REASON = "asserts a Zaqar 23.0.1 server quirk this backend does not claim to have"

#: (test id pattern, reason) of the only skips a run may have.
ALLOWED_SKIPS = (
    (re.compile(r"txzaqar\.test\.unit\.test_contract_memory\.MemoryZaqarContractTests\.test_quirk_\w+"),
     QUIRK_REASON),
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; 0 when it passed with no unexpected skip, else 1."""
    parser = argparse.ArgumentParser(
        prog="python -m txzaqar.test.suite",
        description="the trial suite, failing on a skip not on txzaqar.test.suite.ALLOWED_SKIPS")
    parser.add_argument("--temp-directory", default="_trial_temp", help="trial's working directory")
    parser.add_argument("names", nargs="*", default=["txzaqar"], help="modules, classes or tests to run")
    options = parser.parse_args(argv)
    suite = TestLoader().loadByNames(options.names, recurse=True)
    runner = TrialRunner(TreeReporter, workingDirectory=options.temp_directory, stream=sys.stdout)
    result = runner.run(suite)
    unexpected = unexpected_skips(cast(Any, result).skips)  # a TestResult's list; IReporter does not name it
    if unexpected:
        print(f"\n{len(unexpected)} skipped test(s) not on txzaqar.test.suite.ALLOWED_SKIPS "
              "(a skip must not hide a suite):")
        for line in unexpected:
            print(f"  {line}")
    return 0 if result.wasSuccessful() and not unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
