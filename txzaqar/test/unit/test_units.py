"""
Unit tests of the pieces that need no server: validation, the
Subscriber's settings, the environment, post splitting, loop-proof paging.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import _environment, _paging
from txzaqar import _validation as v
from txzaqar.errors import ClientValidationError
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
