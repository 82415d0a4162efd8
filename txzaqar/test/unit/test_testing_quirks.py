"""
Tests for L{txzaqar.testing.quirks}: the page names every C{test_quirk_*}
test of the shipped contract suites, and only tests that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import txzaqar.testing
from txzaqar.testing import quirks

TESTING = Path(txzaqar.testing.__file__).parent


def quirk_tests_in_the_suites() -> set[str]:
    names: set[str] = set()
    for module in TESTING.glob("*contract*.py"):
        names |= set(re.findall(r"def (test_quirk_\w+)\(", module.read_text()))
    return names


class QuirksPageTests(SynchronousTestCase):
    def test_every_quirk_test_is_on_the_page(self) -> None:
        page = quirks.__doc__ or ""
        named = set(re.findall(r"C\{(test_quirk_\w+)\}", page))
        self.assertEqual(named, quirk_tests_in_the_suites())
        self.assertGreaterEqual(len(named), 9)

    def test_numbered_in_order(self) -> None:
        page = quirks.__doc__ or ""
        numbers = [int(n) for n in re.findall(r"^ *(\d+)\. B\{", page, re.MULTILINE)]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)))
        self.assertEqual(len(numbers), 13)

    def test_references_name_quirks_that_exist(self) -> None:
        """Every "quirk N of txzaqar.testing.quirks" in the package names a quirk on the page."""
        page = quirks.__doc__ or ""
        count = len(re.findall(r"^ *(\d+)\. B\{", page, re.MULTILINE))
        package = Path(txzaqar.testing.__file__).parent.parent
        for path in package.rglob("*.py"):
            for number in re.findall(r"[Qq]uirk (\d+)(?: of L\{| \()txzaqar\.testing\.quirks", path.read_text()):
                self.assertLessEqual(int(number), count, f"{path}: quirk {number}")
