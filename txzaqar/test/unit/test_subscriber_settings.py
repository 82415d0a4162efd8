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
from txzaqar.subscriber.settings import dead_lettering
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
             "safety_interval": 300.0, "safety_rate": 4.0, "discovery_interval": 30.0},
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
            ({"safety_rate": 0}, "safety_rate", "positive number per second, not 0"),
            ({"safety_rate": float("inf")}, "safety_rate", "finite"),
            ({"safety_rate": True}, "safety_rate", "per second"),
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
        for name in ("callback_timeout", "poll_interval", "stop_timeout", "safety_interval", "discovery_interval"):
            e = self.assertRaises(ClientValidationError, Subscriber, client, **{name: math.inf})
            self.assertIn("finite", str(e))
            self.assertRaises(ClientValidationError, SubscriberSettings, **{name: math.inf})
        self.assertEqual(Subscriber(client, callback_timeout=3600.5).settings.callback_timeout, 3600.5)


class SettingsOnceTests(SynchronousTestCase):
    """The options live on the settings alone; the Subscriber reads them there."""

    def test_settings_given(self) -> None:
        """C{settings=} is used as given (what the daemon passes)."""
        settings = SubscriberSettings(batch=3, close_client=True)
        sub = Subscriber(object(), clock=object(), settings=settings)  # type: ignore[arg-type]
        self.assertIs(sub.settings, settings)
        self.assertEqual((sub.batch, sub.close_client), (3, True))

    def test_not_both(self) -> None:
        e = self.assertRaises(TypeError, Subscriber, object(), clock=object(),
                              settings=SubscriberSettings(), batch=3)
        self.assertIn("not both", str(e))

    def test_unknown_option(self) -> None:
        self.assertRaises(TypeError, Subscriber, object(), clock=object(), bacth=3)

    def test_every_option_is_an_attribute(self) -> None:
        """Each field reads through, read-only; other names are no attributes."""
        sub = Subscriber(object(), clock=object(), batch=7)  # type: ignore[arg-type]
        for field in attr.fields(SubscriberSettings):
            self.assertEqual(getattr(sub, field.name), getattr(sub.settings, field.name))
            self.assertRaises(AttributeError, setattr, sub, field.name, 1)
        self.assertRaises(AttributeError, getattr, sub, "no_such_option")
        self.assertFalse(hasattr(sub, "from_command_line"))
