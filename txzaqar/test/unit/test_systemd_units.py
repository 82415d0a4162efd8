"""
The shipped systemd units (C{txzaqar/daemon/systemd/}) pass review:
C{systemd-analyze verify} accepts them, C{systemd-analyze security
--offline=yes} rates their exposure 4.9 or lower ("OK", printed), they
have what the daemon needs, and the README's unit is the shipped one.

C{verify} checks that C{ExecStart}'s program exists, so each unit is
verified in a root of its own (C{--root}): this system's unit directory
copied, an executable stub at the unit's C{ExecStart} path, the unit in
C{etc/systemd/system}.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

import txzaqar.daemon
from txzaqar.test.helpers.options import PARSE
from txzaqar.test.readme import PRODUCTION, blocks
from txzaqar.test.suite import NO_SYSTEMD_REASON

#: Where the units are shipped.
UNITS = Path(txzaqar.daemon.__file__).resolve().parent / "systemd"
#: The units, and the name each is verified under (a template with an instance).
SHIPPED = {"orders-listener.service": "orders-listener.service",
           "zaqar-listen@.service": "zaqar-listen@orders.service"}
#: The highest exposure systemd-analyze calls "OK".
HIGHEST_EXPOSURE = 4.9

#: The unit the README showed before (issue 20: it rated 9.2, "UNSAFE"),
#: to show that the rating check can fail.
BARE_UNIT = """\
[Service]
Type=notify
User=orders
ExecStart=/srv/orders/venv/bin/twistd --nodaemon --pidfile= zaqar-listen --queue orders
"""


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        raise SkipTest(NO_SYSTEMD_REASON)
    return found


def keys(text: str) -> dict[str, list[str]]:
    """Each key's values, in order (keys repeat)."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


class UnitCase(SynchronousTestCase):
    def root(self, name: str, text: str) -> Path:
        """A root for C{--root}: the system's units, a stub ExecStart program, the unit."""
        root = Path(tempfile.mkdtemp(prefix="txzaqar-units-"))
        self.addCleanup(shutil.rmtree, root, True)
        for system in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
            if system.is_dir():
                shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
                break
        [exec_start] = keys(text)["ExecStart"]
        program = root / shlex.split(exec_start)[0].lstrip("/")
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
        (root / "etc/systemd/system").mkdir(parents=True)
        (root / "etc/systemd/system" / name).write_text(text)
        return root

    def verify(self, name: str, text: str, instance: str) -> subprocess.CompletedProcess[str]:
        root = self.root(name, text)
        return subprocess.run([systemd_analyze(), "verify", "--man=no", f"--root={root}",
                               f"/etc/systemd/system/{instance}"],
                              capture_output=True, text=True, timeout=120)

    def exposure(self, name: str, text: str, instance: str) -> float:
        root = self.root(name, text)
        done = subprocess.run([systemd_analyze(), "security", "--offline=yes", f"--root={root}", instance],
                              capture_output=True, text=True, timeout=120)
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
        self.assertIsNotNone(match, done.stdout[-2000:] + done.stderr)
        assert match is not None
        print(f"\n{instance}: exposure {match.group(1)} {match.group(2)} (systemd-analyze security --offline=yes)")
        return float(match.group(1))


class ShippedUnitTests(UnitCase):
    def test_verify(self) -> None:
        """C{systemd-analyze verify}: no error, no warning."""
        for name, instance in SHIPPED.items():
            done = self.verify(name, (UNITS / name).read_text(), instance)
            self.assertEqual((done.returncode, done.stdout + done.stderr), (0, ""), name)

    def test_verify_can_fail(self) -> None:
        """An unknown key is reported (so the check above means something)."""
        text = (UNITS / "orders-listener.service").read_text().replace("[Service]\n", "[Service]\nProtectEverything=yes\n")
        done = self.verify("orders-listener.service", text, "orders-listener.service")
        self.assertIn("Unknown key 'ProtectEverything'", done.stderr)

    def test_exposure(self) -> None:
        for name, instance in SHIPPED.items():
            self.assertLessEqual(self.exposure(name, (UNITS / name).read_text(), instance), HIGHEST_EXPOSURE, name)

    def test_bare_unit_is_exposed(self) -> None:
        """The unit the README showed before rates above the limit: the check can fail."""
        self.assertGreater(self.exposure("bare.service", BARE_UNIT, "bare.service"), HIGHEST_EXPOSURE)


class UnitContentTests(SynchronousTestCase):
    """What the daemon needs of its unit (no systemd-analyze needed)."""

    def test_each_unit(self) -> None:
        for name in SHIPPED:
            unit = keys((UNITS / name).read_text())
            argv = shlex.split(unit["ExecStart"][0])
            with self.subTest(name):
                self.assertEqual(unit["Type"], ["notify"])
                self.assertEqual(unit["KillMode"], ["mixed"])
                self.assertEqual(unit["KillSignal"], ["SIGTERM"])
                self.assertEqual(unit["RestartPreventExitStatus"], ["64 77 78"])
                self.assertTrue(float(unit["RestartSec"][0]) > 0)
                self.assertTrue(float(unit["WatchdogSec"][0]) > 0)
                self.assertIn("--nodaemon", argv)
                # the password: a credential, read from the credentials directory (%d)
                [credential] = unit["LoadCredential"]
                self.assertEqual(argv[argv.index("--os-password-file") + 1],
                                 "%d/" + credential.split(":")[0])
                for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
                    self.assertEqual(unit[key], ["yes"], key)
                self.assertEqual(unit["ProtectSystem"], ["strict"])

    def test_template_reads_its_group_file(self) -> None:
        argv = shlex.split(keys((UNITS / "zaqar-listen@.service").read_text())["ExecStart"][0])
        self.assertEqual(argv[argv.index("--config") + 1], "/etc/zaqar-listen/%i.toml")

    def test_readme_shows_the_shipped_unit(self) -> None:
        [block] = [b for b in blocks() if b.section == PRODUCTION and b.kind == "ini"]
        self.assertEqual(block.text, (UNITS / "orders-listener.service").read_text())


#: A queue group's file for the template (Keystone: the password is the credential).
GROUP_FILE = """\
os-auth-url = "https://keystone.example:5000/v3"
os-username = "worker"
os-user-domain-name = "Default"
os-project-name = "orders"
os-project-domain-name = "Default"
queue = ["orders", "refunds"]
metrics = "tcp:9102:interface=127.0.0.1"
"""


class TemplateParsesTests(SynchronousTestCase):
    def test_exec_start_with_a_group_file(self) -> None:
        """
        The template's ExecStart, %i and %d filled in as systemd does, parsed
        by twistd in a subprocess: the group's file and the credential are read.
        """
        work = Path(tempfile.mkdtemp(prefix="txzaqar-template-"))
        self.addCleanup(shutil.rmtree, work, True)
        (work / "orders.toml").write_text(GROUP_FILE)
        (work / "credentials").mkdir()
        (work / "credentials" / "password").write_text("s3cret\n")
        [exec_start] = keys((UNITS / "zaqar-listen@.service").read_text())["ExecStart"]
        argv = [arg.replace("%i", "orders").replace("/etc/zaqar-listen", str(work))
                .replace("%d", str(work / "credentials")) for arg in shlex.split(exec_start)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        done = subprocess.run([sys.executable, "-c", PARSE, *argv[1:]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        parsed = json.loads(done.stdout.splitlines()[-1])
        self.assertEqual(parsed["queues"], ["orders", "refunds"])
        self.assertIn("password_file", parsed["keystone"])
        self.assertNotIn("s3cret", done.stdout + done.stderr)
