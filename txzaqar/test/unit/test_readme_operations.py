"""
The README's operations examples hold together: the systemd unit's
C{ExecStart} parses with the plugin's options (as twistd parses it, in a
subprocess, with the unit's environment), its timeouts fit the daemon's,
and the Prometheus scrape config targets the unit's C{--metrics} port.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml  # type: ignore[import-untyped]
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.test.helpers.options import PARSE
from txzaqar.test.readme import blocks

SECTION = "Running it in production"



def unit_file() -> dict[str, list[str]]:
    """The README's systemd unit: each key's values, in order (keys repeat)."""
    [block] = [b for b in blocks() if b.section == SECTION and b.kind == "ini"]
    values: dict[str, list[str]] = {}
    for line in block.text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        values.setdefault(key, []).append(value)
    return values


def seconds(text: str) -> float:
    return float(text.removesuffix("s"))


class SystemdUnitTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.unit = unit_file()
        [self.exec_start] = self.unit["ExecStart"]
        self.argv = shlex.split(self.exec_start)

    def option(self, name: str) -> str:
        return self.argv[self.argv.index(name) + 1]

    def test_what_systemd_needs(self) -> None:
        self.assertEqual(self.unit["Type"], ["notify"])
        self.assertEqual(self.unit["KillSignal"], ["SIGTERM"])
        self.assertEqual(self.unit["KillMode"], ["mixed"])  # SIGTERM to the daemon, not its handlers' children
        self.assertEqual(self.unit["RestartPreventExitStatus"], ["64 77 78"])
        self.assertIn("--os-password-file", self.argv)
        self.assertGreater(seconds(self.unit["TimeoutStopSec"][0]), float(self.option("--stop-timeout")))
        self.assertTrue(seconds(self.unit["WatchdogSec"][0]) > 0)
        self.assertIn("--nodaemon", self.argv)  # Type=notify: the main process is the daemon

    def test_exec_start_parses(self) -> None:
        """ExecStart as written, with the unit's Environment=, through twistd's own parser."""
        work = Path(tempfile.mkdtemp())
        (work / "mypackage").mkdir()
        (work / "mypackage" / "__init__.py").write_text("")
        (work / "mypackage" / "handlers.py").write_text("def handle(message):\n    pass\n")
        # LoadCredential= puts the password in the credentials directory, %d in ExecStart
        [credential] = self.unit["LoadCredential"]
        name, _, source = credential.partition(":")
        self.assertEqual(source, "/etc/orders/password")
        credentials = work / "credentials"
        credentials.mkdir()
        (credentials / name).write_text("s3cret\n")
        argv = [arg.replace("%d", str(credentials)) for arg in self.argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        for line in self.unit["Environment"]:
            for assignment in shlex.split(line):
                name, _, value = assignment.partition("=")
                env[name] = value
        done = subprocess.run(
            [sys.executable, "-c", PARSE, *argv[1:]], cwd=work, env=env,
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        parsed = json.loads(done.stdout.splitlines()[-1])
        self.assertEqual(parsed["command"], "zaqar-listen")
        self.assertEqual(parsed["queues"], ["orders"])
        self.assertEqual(parsed["threads"], int(self.option("--threads")))
        self.assertEqual(parsed["stop_timeout"], float(self.option("--stop-timeout")))
        self.assertEqual(parsed["metrics"], self.option("--metrics"))
        self.assertTrue(parsed["nodaemon"])
        self.assertIn("password_file", parsed["keystone"])  # Keystone, from OS_* and the file
        self.assertNotIn("s3cret", done.stdout + done.stderr)

    def test_prometheus_scrapes_the_metrics_port(self) -> None:
        [block] = [b for b in blocks() if b.section == SECTION and b.kind == "yaml"]
        config = yaml.safe_load(block.text)
        [job] = config["scrape_configs"]
        [target] = job["static_configs"][0]["targets"]
        endpoint = self.option("--metrics").split(":")  # tcp:PORT:interface=HOST
        self.assertEqual(target, f"{endpoint[2].split('=')[1]}:{endpoint[1]}")
