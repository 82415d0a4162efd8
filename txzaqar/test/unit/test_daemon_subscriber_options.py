"""
L{txzaqar.daemon._subscriber_options}: the Subscriber's options of C{zaqar-listen}, as the daemon parses them.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon._subscriber_options import (
    command_line,
    dead_lettering_from_command_line,
    settings_from_command_line,
)
from txzaqar.errors import ClientValidationError
from txzaqar.subscriber import SubscriberSettings


class SubscriberOptionsTests(SynchronousTestCase):
    """The daemon's settings: the library's checks, and a line naming the option."""

    def command_line(self, **given: Any) -> SubscriberSettings:
        options = {"batch": "10", "claim-ttl": "60", "grace": "60", "concurrency": "10",
                   "poll-interval": "1", "max-interval": "30", "callback-timeout": None,
                   "stop-timeout": "30", "threads": "0", "safety-interval": "300",
                   "safety-rate": "4", "discovery-interval": "30"}
        options.update(given)
        return settings_from_command_line(options)

    def test_from_command_line(self) -> None:
        settings = self.command_line(**{"batch": "20", "poll-interval": "0.5", "callback-timeout": "10",
                                        "safety-rate": "0.5"})
        self.assertEqual(settings.safety_rate, 0.5)
        self.assertEqual(settings, SubscriberSettings(batch=20, poll_interval=0.5, callback_timeout=10.0,
                                                      safety_rate=0.5, close_client=True))
        self.assertEqual(command_line(settings)["poll-interval"], 0.5)
        self.assertEqual(set(command_line(settings)),
                         {"batch", "claim-ttl", "grace", "concurrency", "poll-interval", "max-interval",
                          "callback-timeout", "stop-timeout", "threads", "safety-interval", "safety-rate",
                          "discovery-interval"})

    def test_command_line_refusals(self) -> None:
        """One line naming the option, as C{zaqar-listen} prints it."""
        cases = [
            ({"batch": "x"}, "--batch must be a whole number from 1 to 20, not 'x'"),
            ({"batch": "0"}, "--batch must be from 1 to 20, not 0"),
            ({"claim-ttl": "10"}, "--claim-ttl must be from 60 to 43200, not 10"),
            ({"poll-interval": "soon"}, "--poll-interval must be a number of seconds, not 'soon'"),
            ({"poll-interval": "nan"}, "--poll-interval must be a positive number of seconds, not nan"),
            ({"stop-timeout": "inf"}, "--stop-timeout must be a positive number of seconds, not inf"),
            ({"max-interval": "0.5"}, "--max-interval (0.5) must not be below --poll-interval (1)"),
            ({"threads": "12"}, "--threads (12) must not be above --concurrency (10): at most "
                                "--concurrency handlers run at once"),
            ({"safety-rate": "0"}, "--safety-rate must be a finite, positive number per second, not '0'"),
            ({"safety-rate": "many"}, "--safety-rate must be a finite, positive number per second, not 'many'"),
        ]
        for given, line in cases:
            error = self.assertRaises(ClientValidationError, self.command_line, **given)
            self.assertEqual(error.description, line)
            self.assertEqual(error.field, "--" + next(iter(given)))

    def test_dead_lettering_from_command_line(self) -> None:
        self.assertIsNone(dead_lettering_from_command_line(None, None))
        self.assertEqual(dead_lettering_from_command_line("dead", "4"), 4)
        lines: list[tuple[tuple[Any, Any], str]] = [
            ((None, "3"), "give --dead-letter-queue and --max-claim-count together"),
            (("d d", "3"), "--dead-letter-queue: 'd d' may only contain"),
            (("dead", "0"), "--max-claim-count must be from 1 to "),
        ]
        for args, line in lines:
            error = self.assertRaises(ClientValidationError, dead_lettering_from_command_line, *args)
            self.assertTrue(error.description.startswith(line), error.description)
