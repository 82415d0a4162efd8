"""
L{txzaqar.subscriber.settings}: every Subscriber option checked once, for the library and the daemon.
"""

from __future__ import annotations

import math
from typing import Any

import attr
from twisted.trial import unittest
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.errors import ClientValidationError
from txzaqar.subscriber import Subscriber, SubscriberSettings
from txzaqar.subscriber.settings import dead_lettering, dead_lettering_from_command_line
from txzaqar.test.helpers.subscriber import (
    FakeClient,
)
from txzaqar.testing import memory_client


class ThreadSettingsTests(unittest.SynchronousTestCase):
    def test_defaults(self) -> None:
        settings = SubscriberSettings()
        self.assertEqual((settings.threads, settings.blocking_warning), (0, 0.1))

    def test_bad_threads(self) -> None:
        for value in (-1, 1.5, True, "2", 10_001):
            with self.subTest(value=value):
                e = self.assertRaises(ClientValidationError, SubscriberSettings, threads=value)
                self.assertEqual(e.field, "threads")

    def test_not_above_concurrency(self) -> None:
        e = self.assertRaises(ClientValidationError, SubscriberSettings, threads=11, concurrency=10)
        self.assertEqual(e.field, "threads")
        self.assertIn("above concurrency (10)", e.description)
        self.assertEqual(SubscriberSettings(threads=10, concurrency=10).threads, 10)

    def test_blocking_warning(self) -> None:
        self.assertIsNone(SubscriberSettings(blocking_warning=None).blocking_warning)
        self.assertEqual(SubscriberSettings(blocking_warning=1).blocking_warning, 1.0)
        for value in (0, -1, "soon"):
            with self.subTest(value=value):
                self.assertRaises(ClientValidationError, SubscriberSettings, blocking_warning=value)

    def test_subscriber_options(self) -> None:
        sub = Subscriber(FakeClient(None), threads=3, concurrency=5,  # type: ignore[arg-type]
                         blocking_warning=None)
        self.assertEqual((sub.threads, sub.blocking_warning), (3, None))


class SubscriberSettingsTests(SynchronousTestCase):
    """L{SubscriberSettings}: the one place the Subscriber's options are checked."""

    def test_defaults(self) -> None:
        settings = SubscriberSettings()
        self.assertEqual(
            attr.asdict(settings),
            {"batch": 10, "claim_ttl": 60, "grace": 60, "concurrency": 10, "poll_interval": 1.0,
             "max_interval": 30.0, "callback_timeout": None, "stop_timeout": 30.0, "ack_delay": 1.0,
             "close_client": False, "claims_in_flight": 1, "threads": 0, "blocking_warning": 0.1,
             "safety_interval": 300.0},
        )

    def test_frozen(self) -> None:
        self.assertRaises(attr.exceptions.FrozenInstanceError, setattr, SubscriberSettings(), "batch", 5)

    def test_seconds_are_kept_as_floats(self) -> None:
        settings = SubscriberSettings(poll_interval=2, max_interval=4, callback_timeout=3, stop_timeout=1)
        for value in (settings.poll_interval, settings.max_interval, settings.callback_timeout,
                      settings.stop_timeout, settings.ack_delay):
            self.assertIs(type(value), float)

    def test_refusals_name_the_field_and_the_bound(self) -> None:
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"batch": 0}, "batch", "from 1 to 20"),
            ({"batch": True}, "batch", "must be an integer"),
            ({"claim_ttl": 59}, "claim ttl", "from 60 to 43200"),
            ({"grace": 43201}, "claim grace", "from 60 to 43200"),
            ({"concurrency": 10_001}, "concurrency", "from 1 to 10000"),
            ({"claims_in_flight": 21}, "claims_in_flight", "from 1 to 20"),
            ({"poll_interval": 0}, "poll_interval", "positive number of seconds, not 0"),
            ({"max_interval": "5"}, "max_interval", "positive number of seconds, not '5'"),
            ({"callback_timeout": -1}, "callback_timeout", "positive"),
            ({"stop_timeout": float("nan")}, "stop_timeout", "positive"),
            ({"poll_interval": 2, "max_interval": 1}, "max_interval", "1 is below poll_interval (2)"),
        ]
        for options, field, words in cases:
            error = self.assertRaises(ClientValidationError, SubscriberSettings, **options)
            self.assertEqual(error.field, field)
            self.assertIn(words, error.description)

    def test_subscriber_builds_one(self) -> None:
        sub = Subscriber(object(), clock=object(), batch=5, poll_interval=2)  # type: ignore[arg-type]
        self.assertEqual(sub.settings, SubscriberSettings(batch=5, poll_interval=2.0))
        self.assertEqual((sub.batch, sub.poll_interval), (5, 2.0))
        self.assertRaises(AttributeError, setattr, sub, "batch", 6)

    def command_line(self, **given: Any) -> SubscriberSettings:
        options = {"batch": "10", "claim-ttl": "60", "grace": "60", "concurrency": "10",
                   "poll-interval": "1", "max-interval": "30", "callback-timeout": None,
                   "stop-timeout": "30", "threads": "0", "safety-interval": "300"}
        options.update(given)
        return SubscriberSettings.from_command_line(options)

    def test_from_command_line(self) -> None:
        settings = self.command_line(**{"batch": "20", "poll-interval": "0.5", "callback-timeout": "10"})
        self.assertEqual(settings, SubscriberSettings(batch=20, poll_interval=0.5, callback_timeout=10.0,
                                                      close_client=True))
        self.assertEqual(settings.command_line()["poll-interval"], 0.5)
        self.assertEqual(set(settings.command_line()),
                         {"batch", "claim-ttl", "grace", "concurrency", "poll-interval", "max-interval",
                          "callback-timeout", "stop-timeout", "threads", "safety-interval"})

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
        ]
        for given, line in cases:
            error = self.assertRaises(ClientValidationError, self.command_line, **given)
            self.assertEqual(error.description, line)
            self.assertEqual(error.field, "--" + next(iter(given)))

    def test_dead_lettering(self) -> None:
        self.assertIsNone(dead_lettering(None, None))
        self.assertEqual(dead_lettering("dead", 3), {"max_claim_count": 3, "dead_letter_queue": "dead"})
        cases: list[tuple[tuple[Any, Any], str]] = [
            ((None, 3), "dead_letter_queue"),
            (("d d", 3), "queue name"),
            (("dead", 0), "max_claim_count"),
        ]
        for args, field in cases:
            self.assertEqual(self.assertRaises(ClientValidationError, dead_lettering, *args).field, field)
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


class SubscriberOptionTests(SynchronousTestCase):
    def test_ack_delay(self) -> None:
        """C{ack_delay} is a finite number of seconds, 0 or more."""
        client, _ = memory_client()
        for value in (-1, -0.5, "x", math.nan, math.inf, None, True):
            e = self.assertRaises(ClientValidationError, Subscriber, client, ack_delay=value)
            self.assertIn("ack_delay", str(e))
        self.assertEqual(Subscriber(client, ack_delay=0).settings.ack_delay, 0.0)
        self.assertEqual(Subscriber(client, ack_delay=2).settings.ack_delay, 2.0)


class FiniteSecondsTests(SynchronousTestCase):
    def test_infinite_seconds_refused(self) -> None:
        """The daemon refuses C{inf}; so does the library (a timer is set for each)."""
        client, _ = memory_client()
        for name in ("callback_timeout", "poll_interval", "stop_timeout", "safety_interval"):
            e = self.assertRaises(ClientValidationError, Subscriber, client, **{name: math.inf})
            self.assertIn("finite", str(e))
            self.assertRaises(ClientValidationError, SubscriberSettings, **{name: math.inf})
        self.assertEqual(Subscriber(client, callback_timeout=3600.5).settings.callback_timeout, 3600.5)
