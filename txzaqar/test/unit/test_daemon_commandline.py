"""
C{twistd zaqar-listen} run as a person types it: the installed C{twistd}
and C{twist} scripts in a subprocess, their output read as printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import txzaqar
from txzaqar.daemon import _service as _tap
from txzaqar.test import readme

BIN = Path(sys.executable).parent
GOOD = ["--url", "http://127.0.0.1:1", "--project-id", "demo", "--queue", "jobs"]


def run(script: str, *args: str, cwd: str | None = None) -> tuple[int, str]:
    """Run BIN/script with args; the exit status and stdout+stderr."""
    code, out, err = run_apart(script, *args, cwd=cwd, stderr=subprocess.STDOUT)
    return code, out


def run_apart(script: str, *args: str, cwd: str | None = None, stderr: int = subprocess.PIPE
              ) -> tuple[int, str, str]:
    """Run BIN/script with args; the exit status, stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
    env["COLUMNS"] = "80"
    done = subprocess.run(
        [str(BIN / script), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=cwd,
        env=env,
        timeout=120,
        text=True,
    )
    return done.returncode, done.stdout, done.stderr or ""


class HelpTests(SynchronousTestCase):
    def assertFullUsage(self, code: int, out: str) -> None:
        self.assertEqual(code, 0, out)
        self.assertNotIn("Traceback", out)
        for name in _tap.Options().longOpt:
            self.assertIn(f"--{name.rstrip('=')}", out)

    def test_twistd_help(self) -> None:
        """C{twistd zaqar-listen --help} prints every option and exits 0."""
        self.assertFullUsage(*run("twistd", "zaqar-listen", "--help"))

    def test_twist_help(self) -> None:
        self.assertFullUsage(*run("twist", "zaqar-listen", "--help"))

    def test_listed_by_twistd(self) -> None:
        code, out = run("twistd", "--help")
        self.assertEqual(code, 0, out)
        self.assertIn("zaqar-listen", out)

    def test_version(self) -> None:
        """C{--version} prints txzaqar's version, not Twisted's."""
        code, out = run("twistd", "zaqar-listen", "--version")
        self.assertEqual((code, out), (0, f"txzaqar {txzaqar.__version__}\n"))


#: (arguments after GOOD, what the last line must say)
BAD = [
    (["--nope"], "option --nope not recognized"),
    (["--batch", "x"], "--batch must be a whole number from 1 to 20, not 'x'"),
    (["--batch", "0"], "--batch must be from 1 to 20, not 0"),
    (["--concurrency", "-1"], "--concurrency must be from 1 to 10000, not -1"),
    (["--claim-ttl", "10"], "--claim-ttl must be from 60 to 43200, not 10"),
    (["--poll-interval", "nan"], "--poll-interval must be a positive number of seconds, not nan"),
    (["--max-interval", "0.5"], "--max-interval (0.5) must not be below --poll-interval (1)"),
    (["--queue", "bad/name"], "--queue: 'bad/name' may only contain"),
    (["--queue", "jobs"], "--queue jobs is given twice"),
    (["--url", "ftp://x"], "--url must be an http:// or https:// URL, not 'ftp://x'"),
    (["--handler", "nomodule:f"], "cannot import 'nomodule': ModuleNotFoundError"),
    (["--handler", "brokenhandler:handle"], "cannot import 'brokenhandler': ModuleNotFoundError: "
                                           "No module named 'no_such_module_here' (at "),
    (["--handler", "brokenhandler:handle"], "brokenhandler.py, line 1)"),  # where, in the handler's code
    (["--handler", "raisinghandler:handle"], "cannot import 'raisinghandler': RuntimeError: boom (at "),
    (["--handler", "goodhandler:x"], "--handler goodhandler:x: 'x' is not callable"),
    (["--handler", "goodhandler:missing"], "module 'goodhandler' has no 'missing'"),
    (["--handler", "goodhandler"], "--handler must look like package.module:function"),
    (["--cacert", "/no/such/ca.pem"], "--cacert: no such file '/no/such/ca.pem'"),
    (["--cacert", "bad.pem"], "--cacert: bad.pem holds no PEM certificate"),
    (["--cert", "bad.pem", "--key", "bad.pem"], "--cert: bad.pem (with key bad.pem) is not a PEM"),
    (["--key", "bad.pem"], "--key needs --cert"),
    (["--os-password", "hunter2"], "--os-password: secrets are never taken on the command line"),
    (["--os-token", "t"], "--os-token: secrets are never taken on the command line"),
    (["--os-application-credential-secret", "s"], "secrets are never taken on the command line"),
    (["--log-level", "loud"], "--log-level must be one of debug, info, warn, error, critical"),
    (["--dead-letter-queue", "dead"], "give --dead-letter-queue and --max-claim-count together"),
    (["--os-username", "u"], "--os-username needs --os-auth-url (or $OS_AUTH_URL) or --os-cloud"),
]


class BadInvocationTests(SynchronousTestCase):
    """
    Each mistake ends with one line saying what to fix (after a one-line
    pointer to --help), no traceback, a non-zero exit.
    """

    def setUp(self) -> None:
        self.cwd = tempfile.mkdtemp()
        files = {
            "brokenhandler.py": "import no_such_module_here\n",
            "raisinghandler.py": "raise RuntimeError('boom')\n",
            "goodhandler.py": "def handle(message):\n    pass\n\nx = 3\n",
            "bad.pem": "this is not PEM\n",
        }
        for name, text in files.items():
            Path(self.cwd, name).write_text(text)

    def check(self, script: str, args: list[str], expected: str) -> None:
        """
        Exit status 64 (EX_USAGE) under twistd and twist alike; nothing on
        stdout; on stderr one line C{zaqar-listen: <what to fix>} and the
        pointer to --help.
        """
        code, out, err = run_apart(script, "zaqar-listen", *args, cwd=self.cwd)
        lines = err.strip().splitlines()
        self.assertEqual(code, 64, out + err)
        self.assertEqual(out, "")
        self.assertNotIn("Traceback", err)
        self.assertTrue(lines[0].startswith("zaqar-listen: "), err)
        self.assertIn(expected, lines[0])
        self.assertEqual(lines[1:], [f"({script} zaqar-listen --help lists the options)"])
        self.assertNotIn("hunter2", err)

    def test_twistd(self) -> None:
        self.assertGreaterEqual(len(BAD), 15)
        for args, expected in BAD:
            self.check("twistd", GOOD + args, expected)

    def test_twist(self) -> None:
        self.check("twist", GOOD + ["--batch", "99"], "--batch must be from 1 to 20, not 99")

    def test_missing_url(self) -> None:
        self.check("twistd", ["--project-id", "p", "--queue", "q"], "--url is required")

    def test_no_queue(self) -> None:
        self.check("twistd", ["--url", "http://127.0.0.1:1", "--project-id", "p"], "at least one --queue")

    def test_missing_cloud(self) -> None:
        self.check(
            "twistd", ["--url", "http://127.0.0.1:1", "--queue", "q", "--os-cloud", "nocloud"],
            "no clouds.yaml found",
        )


class HandlerFromCurrentDirectoryTests(SynchronousTestCase):
    def test_imports_without_pythonpath(self) -> None:
        """
        A handler module in the working directory imports without
        PYTHONPATH, as with gunicorn and celery: twistd gets past the
        handler and stops at the next mistake on the line.
        """
        cwd = tempfile.mkdtemp()
        Path(cwd, "localhandler.py").write_text("def handle(message):\n    pass\n")
        code, out = run("twistd", "zaqar-listen", *GOOD, "--handler", "localhandler:handle",
                        "--log-level", "loud", cwd=cwd)
        self.assertEqual(code, 64)
        self.assertIn("--log-level must be one of", out.splitlines()[0])


class HelpInReadmeTests(SynchronousTestCase):
    def test_readme_shows_the_current_help(self) -> None:
        """The README's copy of C{twistd zaqar-listen --help} is what the program prints."""
        [block] = [b for b in readme.blocks() if b.section == "All the options"]
        code, out = run("twistd", "zaqar-listen", "--help")
        self.assertEqual(code, 0, out)
        printed = [line.rstrip() for line in out.rstrip("\n").splitlines()]
        self.assertEqual(block.text.rstrip("\n").splitlines(), printed,
                         "update the README's copy: COLUMNS=80 twistd zaqar-listen --help")


class HelpTextTests(SynchronousTestCase):
    """What C{--help} says about options whose default or effect surprised operators."""

    def setUp(self) -> None:
        code, out = run("twistd", "zaqar-listen", "--help")
        self.assertEqual(code, 0, out)
        self.help: dict[str, str] = {}
        name = None
        for line in out.splitlines():
            match = re.match(r"\s+(?:-\w, )?--([\w-]+)=?\s*(.*)", line)
            if match:
                name = match.group(1)
                self.help[name] = match.group(2)
            elif name is not None and line.strip():
                self.help[name] += " " + line.strip()

    def test_defaults_said(self) -> None:
        for name in ("callback-timeout", "push", "metrics", "dead-letter-queue", "max-claim-count",
                     "log-level", "log-format", "max-interval"):
            self.assertIn("[default:", self.help[name], name)

    def test_no_runs_of_spaces_at_any_width(self) -> None:
        """A help text's own line breaks never show as runs of spaces, however wide the terminal."""
        from txzaqar.daemon import _service

        for width in (80, 100, 160, 240):
            for line in _service.Options().getUsage(width=width).splitlines():
                match = re.match(r"\s+(?:-\w, )?--[\w-]+=?\s+(.*)", line)
                text = match.group(1) if match else line.strip()
                self.assertNotIn("  ", text, f"at {width} columns: {line!r}")

    def test_password_file_has_no_variable_default(self) -> None:
        """$OS_PASSWORD holds a password, not a file's name."""
        self.assertNotIn("[default: $OS_PASSWORD]", self.help["os-password-file"])
        self.assertIn("$OS_PASSWORD holds the password itself", self.help["os-password-file"])

    def test_effects_said(self) -> None:
        self.assertIn("idle queue is polled only this often", self.help["max-interval"])
        self.assertIn("applies to every consumer", self.help["dead-letter-queue"])
        self.assertIn("cannot be stopped", self.help["callback-timeout"])
        self.assertIn("stays claimed until it returns", self.help["callback-timeout"])
