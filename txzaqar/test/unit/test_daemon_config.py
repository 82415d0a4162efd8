"""
Tests for L{txzaqar.daemon._config}: options from the environment and a
TOML file (C{--config}), their precedence and their one-line errors.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon import _service as _tap
from txzaqar.daemon._config import describe_sources
from txzaqar.test import readme

NEEDED = {"url": "http://127.0.0.1:8888", "project-id": "demo", "queue": "jobs"}


class SourcesCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="txzaqar-config-"))

    def toml(self, text: str) -> str:
        path = self.dir / "config.toml"
        path.write_text(text)
        return str(path)

    def parse(self, args: list[str], env: dict[str, str] | None = None) -> Any:
        self.patch(_tap.os, "environ", dict(env or {}))
        options = _tap.Options()
        options.parseOptions(args)
        return options

    def refused(self, args: list[str], env: dict[str, str] | None = None) -> str:
        self.patch(_tap.os, "environ", dict(env or {}))
        e = self.assertRaises(UsageError, _tap.Options().parseOptions, args)
        self.assertNotIn("\n", str(e))
        return str(e)


class EnvironmentTests(SourcesCase):
    def test_every_kind(self) -> None:
        """A parameter, a flag and the repeated --queue, each from its variable."""
        options = self.parse([], {
            "ZAQAR_LISTEN_URL": "http://127.0.0.1:8888", "ZAQAR_LISTEN_PROJECT_ID": "demo",
            "ZAQAR_LISTEN_QUEUE": "orders, invoices", "ZAQAR_LISTEN_CLAIM_TTL": "120",
            "ZAQAR_LISTEN_INSECURE": "true",
        })
        self.assertEqual(options["queues"], ["orders", "invoices"])
        self.assertEqual(options["claim-ttl"], 120)
        self.assertTrue(options["insecure"])
        self.assertEqual(options["sources"]["claim-ttl"], "ZAQAR_LISTEN_CLAIM_TTL")

    def test_command_line_wins(self) -> None:
        options = self.parse(["--batch", "3", "-q", "cli"], {
            "ZAQAR_LISTEN_URL": "http://127.0.0.1:8888", "ZAQAR_LISTEN_PROJECT_ID": "demo",
            "ZAQAR_LISTEN_BATCH": "7", "ZAQAR_LISTEN_QUEUE": "env1 env2"})
        self.assertEqual(options["batch"], 3)
        self.assertEqual(options["queues"], ["cli"])  # taken whole, not merged
        self.assertNotIn("batch", options["sources"])

    def test_bad_value_names_the_variable(self) -> None:
        message = self.refused(["--url", NEEDED["url"], "--project-id", "demo", "--queue", "q"],
                               {"ZAQAR_LISTEN_BATCH": "0"})
        self.assertEqual(message, "ZAQAR_LISTEN_BATCH: --batch must be from 1 to 20, not 0")

    def test_error_found_later_names_the_variable(self) -> None:
        """--threads above --concurrency is found after parsing: still the variable's name."""
        message = self.refused(["--url", NEEDED["url"], "--project-id", "demo", "--queue", "q"],
                               {"ZAQAR_LISTEN_THREADS": "12"})
        self.assertTrue(message.startswith("ZAQAR_LISTEN_THREADS: --threads (12) must not be above"), message)

    def test_command_line_error_is_not_renamed(self) -> None:
        message = self.refused(["--url", NEEDED["url"], "--project-id", "demo", "--queue", "q",
                                "--threads", "12"], {"ZAQAR_LISTEN_LOG_FORMAT": "json"})
        self.assertTrue(message.startswith("--threads (12)"), message)

    def test_unknown_variable(self) -> None:
        message = self.refused(["--url", NEEDED["url"], "--project-id", "demo", "--queue", "q"],
                               {"ZAQAR_LISTEN_BACH": "3"})
        self.assertTrue(message.startswith("ZAQAR_LISTEN_BACH: no such option"), message)

    def test_bad_flag(self) -> None:
        message = self.refused(["--url", NEEDED["url"], "--project-id", "demo", "--queue", "q"],
                               {"ZAQAR_LISTEN_INSECURE": "maybe"})
        self.assertTrue(message.startswith("ZAQAR_LISTEN_INSECURE: must be 1, true"), message)

    def test_secret_still_refused(self) -> None:
        """--os-password is refused on the command line; from the environment it says the same."""
        message = self.refused(["--queue", "q"], {"ZAQAR_LISTEN_OS_PASSWORD": "s3cret"})
        self.assertTrue(message.startswith("ZAQAR_LISTEN_OS_PASSWORD: --os-password: secrets"), message)
        self.assertNotIn("s3cret", message)


class FileTests(SourcesCase):
    def test_file_gives_options(self) -> None:
        path = self.toml('url = "http://127.0.0.1:8888"\nproject-id = "demo"\nqueue = ["a", "b"]\n'
                         'poll-interval = 0.5\ninsecure = true\n')
        options = self.parse(["--config", path])
        self.assertEqual(options["queues"], ["a", "b"])
        self.assertEqual(options["poll-interval"], 0.5)
        self.assertTrue(options["insecure"])
        self.assertEqual(options["sources"]["queue"], f"{path}: queue")

    def test_config_from_the_environment(self) -> None:
        path = self.toml('url = "http://127.0.0.1:8888"\nproject-id = "demo"\nqueue = "a"\n')
        options = self.parse([], {"ZAQAR_LISTEN_CONFIG": path})
        self.assertEqual(options["queues"], ["a"])

    def test_precedence(self) -> None:
        """Command line over environment over file, option by option."""
        path = self.toml('url = "http://127.0.0.1:8888"\nproject-id = "demo"\nqueue = "file"\n'
                         'batch = 2\nconcurrency = 4\ngrace = 90\n')
        options = self.parse(["--config", path, "--batch", "5"],
                             {"ZAQAR_LISTEN_BATCH": "6", "ZAQAR_LISTEN_CONCURRENCY": "8"})
        self.assertEqual((options["batch"], options["concurrency"], options["grace"]), (5, 8, 90))
        self.assertEqual(options["queues"], ["file"])

    def test_bad_value_names_file_and_key(self) -> None:
        path = self.toml('batch = 0\n')
        message = self.refused(["--config", path, "--url", NEEDED["url"], "--project-id", "demo", "--queue", "q"])
        self.assertEqual(message, f"{path}: batch: --batch must be from 1 to 20, not 0")

    def test_wrong_type(self) -> None:
        path = self.toml('batch = true\n')
        message = self.refused(["--config", path, "--queue", "q"])
        self.assertEqual(message, f"{path}: batch: must be a string or a number, not True")

    def test_unknown_key(self) -> None:
        path = self.toml('bach = 3\n')
        message = self.refused(["--config", path, "--queue", "q"])
        self.assertTrue(message.startswith(f"{path}: bach: no such option"), message)

    def test_not_toml(self) -> None:
        path = self.toml('batch = \n')
        message = self.refused(["--config", path, "--queue", "q"])
        self.assertTrue(message.startswith(f"{path}: not TOML: "), message)

    def test_missing_file(self) -> None:
        message = self.refused(["--config", str(self.dir / "nope.toml"), "--queue", "q"])
        self.assertIn("--config: cannot read", message)


class CheckLineTests(SourcesCase):
    def test_describes_the_sources(self) -> None:
        path = self.toml('url = "http://127.0.0.1:8888"\nqueue = "a"\n')
        options = self.parse(["--config", path], {"ZAQAR_LISTEN_PROJECT_ID": "demo"})
        self.assertEqual(describe_sources(options), "configuration read (the command line wins): "
                         f"environment: ZAQAR_LISTEN_PROJECT_ID; {path}: queue, url")
        self.assertIn(describe_sources(options), _tap._checked_locally(options))

    def test_nothing_but_the_command_line(self) -> None:
        options = self.parse(["--url", NEEDED["url"], "--project-id", "demo", "--queue", "q"])
        self.assertIsNone(describe_sources(options))
        self.assertEqual(len(_tap._checked_locally(options)), 2)


class ReadmeFileTests(SourcesCase):
    def test_readme_file_parses(self) -> None:
        """
        The README's TOML file, as printed, read by C{--config} (its handler
        module made in the working directory); an environment variable
        overrides one of its keys, as the README says.
        """
        block = readme.find_block(readme.PRODUCTION, "# /etc/orders/listen.toml")
        self.assertEqual(block.kind, "toml")
        path = self.toml(block.text)
        (self.dir / "mypackage").mkdir()
        (self.dir / "mypackage" / "__init__.py").write_text("")
        (self.dir / "mypackage" / "handlers.py").write_text("def handle(message):\n    pass\n")
        self.patch(sys, "path", [str(self.dir), *sys.path])
        self.addCleanup(sys.modules.pop, "mypackage.handlers", None)
        self.addCleanup(sys.modules.pop, "mypackage", None)
        options = self.parse(["--config", path], {"ZAQAR_LISTEN_THREADS": "4"})
        self.assertEqual(options["queues"], ["orders", "refunds"])
        self.assertEqual((options["threads"], options["claim-ttl"]), (4, 120))
        self.assertEqual(options["metrics"], "tcp:9102:interface=127.0.0.1")
        self.assertEqual(options["handler"], "mypackage.handlers:handle")
        command = block.first_line.split(": ", 1)[1]
        self.assertEqual(command, "twistd -n --pidfile= zaqar-listen --config /etc/orders/listen.toml")
