"""L{txzaqar.cli._options}: the command line parsed as a user types it (no server)."""

from __future__ import annotations

import io
from typing import Any
from unittest import mock

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.cli import _commands
from txzaqar.cli._options import Options
from txzaqar.test.helpers.cli import CONNECTION, parse


class OptionsTests(SynchronousTestCase):
    def test_command_and_arguments(self) -> None:
        """Global options, then words, arguments and options in any order (GNU style)."""
        options = parse(*CONNECTION, "queue", "create", "jobs", "--metadata", '{"a": 1}')
        leaf = options.leaf()
        self.assertEqual(leaf.command.words, ("queue", "create"))
        self.assertEqual((leaf["name"], leaf["metadata"]), ("jobs", {"a": 1}))
        self.assertEqual((options["url"], options["project-id"]), ("http://127.0.0.1:8888", "demo"))

    def test_format(self) -> None:
        """JSON when not on a terminal; --format chooses; anything else is a usage error."""
        self.assertEqual(parse(*CONNECTION, "ping")["format"], "json")
        self.assertEqual(parse(*CONNECTION, "--format", "table", "ping")["format"], "table")
        self.assertRaises(usage.UsageError, parse, *CONNECTION, "--format", "yaml", "ping")

    def test_rest_arguments(self) -> None:
        """C{ids...} takes one or more, C{messages*} any number; integers and flags converted."""
        leaf = parse(*CONNECTION, "message", "get", "q", "a", "b").leaf()
        self.assertEqual(leaf["ids"], ["a", "b"])
        self.assertRaises(usage.UsageError, parse, *CONNECTION, "message", "get", "q")
        self.assertEqual(parse(*CONNECTION, "post", "q").leaf()["messages"], [])
        leaf = parse(*CONNECTION, "message", "list", "q", "--limit", "5", "--include-claimed").leaf()
        self.assertEqual((leaf["limit"], leaf["include-claimed"]), (5, True))
        self.assertRaises(usage.UsageError, parse, *CONNECTION, "message", "list", "q", "--limit", "five")

    def test_mistakes(self) -> None:
        """No command, an unknown one, a missing group command, extra arguments, no URL: usage errors."""
        for argv in ([*CONNECTION], [*CONNECTION, "frobnicate"], [*CONNECTION, "queue"],
                     [*CONNECTION, "ping", "extra"], ["--project-id", "p", "ping"],
                     [*CONNECTION, "queue", "create", "q", "--metadata", "{oops"]):
            self.assertRaises(usage.UsageError, parse, *argv)

    def test_daemon_credentials(self) -> None:
        """The daemon's checks: no secrets on the command line; --project-id is not for Keystone."""
        self.assertRaises(usage.UsageError, parse, "--os-password", "x", "ping")
        error = self.assertRaises(usage.UsageError, parse, "--os-auth-url", "http://k/v3", "--project-id", "p",
                                  "--url", "http://z:8888", "ping")
        self.assertIn("--project-id", str(error))

    def test_every_command_has_help(self) -> None:
        """Each command of the table parses with --help (it prints its own usage and exits 0)."""
        for command in _commands.COMMANDS:
            out = io.StringIO()
            with mock.patch("sys.stdout", out):
                error: Any = self.assertRaises(SystemExit, Options().parseOptions, [*command.words, "--help"])
            self.assertEqual(error.code, 0)
            self.assertIn(" ".join(command.words), out.getvalue())
