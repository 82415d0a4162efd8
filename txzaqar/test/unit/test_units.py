"""
Unit tests of the pieces that need no server: validation, the
Subscriber's settings, the environment, post splitting, loop-proof paging.
"""

from __future__ import annotations

import json
from typing import Any

import attr
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import _environment, _paging
from txzaqar import _validation as v
from txzaqar.errors import ClientValidationError
from txzaqar.queue import split_post
from txzaqar.subscriber import Subscriber, SubscriberSettings
from txzaqar.subscriber.settings import dead_lettering, dead_lettering_from_command_line
from txzaqar.test.helpers.paging import QuirkyPages


class ValidationTests(SynchronousTestCase):
    def test_queue_names(self) -> None:
        for good in ("q", "A", "0", "_", "-", "a-b-c_D9", "x" * 64):
            self.assertEqual(v.queue_name(good), good)
        for bad, words in (("", "empty"), ("x" * 65, "at most 64"), ("a/b", "letters"),
                           ("sp ace", "letters"), (3, "string"), ("a.b", "letters"), ("v1.2.3", "letters"),
                           (".x", "letters"), (".", "letters"), ("p\u00e9", "letters"), ("\u0661", "letters")):
            error = self.assertRaises(ClientValidationError, v.queue_name, bad)
            self.assertEqual(error.field, "queue name")
            self.assertIn(words, str(error))

    def test_integer_bounds(self) -> None:
        error = self.assertRaises(ClientValidationError, v.integer, "claim ttl", 59, 60, 43200)
        self.assertIn("60 to 43200", str(error))
        self.assertRaises(ClientValidationError, v.integer, "claim ttl", True, 0, 10)
        self.assertRaises(ClientValidationError, v.integer, "claim ttl", "60", 0, 100)

    def test_id_lists(self) -> None:
        self.assertRaises(ClientValidationError, v.string_list, "ids", "abc")
        self.assertRaises(ClientValidationError, v.string_list, "ids", ["a", ""])
        self.assertEqual(v.string_list("ids", ("a", "b")), ["a", "b"])


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


class EnvironmentTests(SynchronousTestCase):
    """L{_environment}: the one module that reads C{OS_*} and C{ZAQAR_URL}."""

    def test_empty_is_unset(self) -> None:
        self.assertIsNone(_environment.variable("OS_CLOUD", {"OS_CLOUD": ""}))
        self.assertIsNone(_environment.zaqar_url({}))
        self.assertEqual(_environment.zaqar_url({"ZAQAR_URL": "http://z"}), "http://z")

    def test_process_environment_read_at_each_call(self) -> None:
        self.patch(_environment.os, "environ", {"OS_PROJECT_ID": "p1"})
        self.assertEqual(_environment.variable("OS_PROJECT_ID"), "p1")

    def test_insecure(self) -> None:
        for value, expected in (("1", True), ("TRUE", True), ("yes", True), ("0", False), ("", False)):
            self.assertIs(_environment.insecure({"OS_INSECURE": value}), expected)
        self.assertFalse(_environment.insecure({}))

    def test_keystone_options(self) -> None:
        env = {"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "demo", "OS_PASSWORD": "", "OS_OTHER": "x",
               "OS_INTERFACE": "internalURL", "OS_REGION_NAME": "R1", "OS_INSECURE": "true"}
        self.assertEqual(
            _environment.keystone_options(["auth_url", "username", "password"], env),
            {"auth_url": "http://k/v3", "username": "demo", "interface": "internal",
             "region_name": "R1", "insecure": True},
        )


class SplitPostTests(SynchronousTestCase):
    def test_by_count(self) -> None:
        chunks = split_post([{"body": i} for i in range(45)], 262144)
        self.assertEqual([len(docs) for docs, _ in chunks], [20, 20, 5])
        bodies = [json.loads(raw) for _, raw in chunks]
        self.assertEqual([m["body"] for b in bodies for m in b["messages"]], list(range(45)))

    def test_by_size(self) -> None:
        big = "x" * 100_000
        chunks = split_post([{"body": big}] * 3, 262144)
        self.assertEqual([len(docs) for docs, _ in chunks], [2, 1])
        self.assertTrue(all(len(raw) <= 262144 for _, raw in chunks))

    def test_exact_fit(self) -> None:
        overhead = len(b'{"messages":[]}')
        doc = {"body": ""}
        one = len(json.dumps(doc, separators=(",", ":")))
        limit = overhead + 2 * one + 1  # two messages and a comma fit exactly
        chunks = split_post([doc] * 3, limit)
        self.assertEqual([len(d) for d, _ in chunks], [2, 1])
        self.assertEqual(len(chunks[0][1]), limit)

    def test_single_message_too_large(self) -> None:
        error = self.assertRaises(ClientValidationError, split_post, [{"body": "x" * 262144}], 262144)
        self.assertIn("at most 262144 bytes", str(error))


class PagingTests(SynchronousTestCase):
    def collect(self, conn: QuirkyPages, limit: int, **kw: Any) -> list[str]:
        d = Deferred.fromCoroutine(_paging.collect(conn, "queues", "queues", "name", limit, **kw))  # type: ignore[arg-type]
        return [item["name"] for item in self.successResultOf(d)]

    def test_limit_one_gets_everything_once(self) -> None:
        names = [f"q{i}" for i in range(5)]
        conn = QuirkyPages(names)
        self.assertEqual(self.collect(conn, 1), names)
        self.assertLessEqual(len(conn.calls), 6)

    def test_every_page_size(self) -> None:
        names = [f"q{i:02}" for i in range(23)]
        for limit in range(1, 21):
            self.assertEqual(self.collect(QuirkyPages(names), limit), names)

    def test_unknown_marker_restart_does_not_loop(self) -> None:
        conn = QuirkyPages(["a", "b", "c"])
        self.assertEqual(self.collect(conn, 2, marker="gone"), ["a", "b", "c"])

    def test_max_items(self) -> None:
        self.assertEqual(self.collect(QuirkyPages(list("abcdef")), 2, max_items=3), ["a", "b", "c"])
