"""
The reliability suite's bookkeeping, server-free: how a redelivery is
explained from the proxy's log, and the table it prints.
"""

from __future__ import annotations

import re
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.test import readme
from txzaqar.test.reliability.scenarios import CLAIM_TTL, Delivery, explain
from txzaqar.test.reliability.stack import Report
from txzaqar.testing.faults import ProxiedRequest

FIRST = Delivery(("q", 1), "m1", "c1", 10.0)


def delete(n: int, at: float, fault: str | None, status: int | None, path: str = "/v2/queues/q/messages?ids=m1") -> ProxiedRequest:
    return ProxiedRequest(n, "DELETE", path, fault, at, b"", status)


class ExplainTests(SynchronousTestCase):
    def test_same_claim(self) -> None:
        """A second delivery under the same claim is a violation, whatever the log says."""
        again = Delivery(("q", 1), "m1", "c1", 100.0)
        self.assertEqual(explain(FIRST, again, []), "same claim")

    def test_ack_lost(self) -> None:
        """Every acknowledging DELETE of the message faulted before it reached Zaqar: ack lost."""
        again = Delivery(("q", 1), "m1", "c2", 75.0)
        log = [delete(1, 11.0, "refused", None), delete(2, 12.0, "reset_before", None)]
        self.assertEqual(explain(FIRST, again, log), "ack lost")

    def test_ack_reached_zaqar(self) -> None:
        """An acknowledgement Zaqar answered does not explain a quick redelivery."""
        again = Delivery(("q", 1), "m1", "c2", 12.0)
        log = [delete(1, 11.0, None, 204)]
        self.assertEqual(explain(FIRST, again, log), "unexplained")

    def test_released(self) -> None:
        """The first claim was released (DELETE of the claim): claim released."""
        again = Delivery(("q", 1), "m1", "c2", 12.0)
        log = [delete(1, 11.0, None, 204, "/v2/queues/q/claims/c1")]
        self.assertEqual(explain(FIRST, again, log), "claim released")

    def test_expired(self) -> None:
        """No acknowledgement at all, redelivered after the claim ttl: claim expired."""
        self.assertEqual(explain(FIRST, Delivery(("q", 1), "m1", "c2", 10.0 + CLAIM_TTL), []), "claim expired")
        self.assertEqual(explain(FIRST, Delivery(("q", 1), "m1", "c2", 20.0), []), "unexplained")


class ReportTests(SynchronousTestCase):
    def test_table_and_failures(self) -> None:
        """One reStructuredText table per scenario; a failed check is kept."""
        report = Report()
        report.add("A", "messages", 1200)
        report.add("A", "lost", "0")
        report.add("B", "took", "3 s")
        report.check(True, "fine")
        report.check(False, "B: broken")
        lines = report.table().splitlines()
        self.assertEqual(lines[1].strip(), "A")
        self.assertEqual(lines[3].split(), ["messages", "1,200"])
        self.assertIn("B", [line.strip() for line in lines])
        self.assertEqual(set(lines[0]), {"=", " "})
        self.assertEqual(report.failures, ["B: broken"])


def _usage(module: str) -> str:
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return " ".join(out.split())


class ReadmeBlockTests(SynchronousTestCase):
    def test_options_exist(self) -> None:
        """Every option of the README's Reliability commands is one the command takes."""
        block = readme.find_block("Reliability", "python3 -m tox -e faults")
        commands = block.commands()
        self.assertEqual(len(commands), 4, commands)
        checked = 0
        for command in commands:
            module = "txzaqar.test.reliability"
            found = re.search(r"-m (txzaqar\.test\.reliability(?:\.soak)?)", command)
            if found:
                module = found.group(1)
            else:
                self.assertTrue(command.startswith("python3 -m tox -e faults"), command)
            usage = _usage(module)
            for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", command):
                self.assertIn(option, usage, command)
                checked += 1
        self.assertGreaterEqual(checked, 5)
