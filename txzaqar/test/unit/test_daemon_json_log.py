"""Tests for L{txzaqar.daemon._json_log}: the daemon's flat JSON log lines."""

from __future__ import annotations

import io
import json

from twisted.logger import Logger, LogLevel, LogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon._json_log import flat_json_file_observer, flat_json_line


class FlatJSONTests(SynchronousTestCase):
    def event(self, **fields: object) -> dict[str, object]:
        event = {"log_time": 1765022400.25, "log_level": LogLevel.warn, "log_namespace": "txzaqar.subscriber",
                 "log_format": "{queue}: backing off {delay:.1f}s", "queue": "orders", "delay": 2.0}
        event.update(fields)
        return event

    def test_one_flat_object(self) -> None:
        line = flat_json_line(self.event())
        self.assertTrue(line.endswith("\n"))
        self.assertEqual(line.count("\n"), 1)
        self.assertEqual(json.loads(line), {
            "time": "2025-12-06T12:00:00.250Z", "level": "warn", "logger": "txzaqar.subscriber",
            "message": "orders: backing off 2.0s", "queue": "orders", "delay": 2.0})

    def test_exception_text(self) -> None:
        try:
            raise ValueError("no such order")
        except ValueError:
            failure = Failure()
        record = json.loads(flat_json_line(self.event(log_failure=failure)))
        self.assertIn("ValueError: no such order", record["exception"])
        self.assertIn("Traceback", record["exception"])

    def test_values_json_cannot_hold(self) -> None:
        record = json.loads(flat_json_line(self.event(thing=object(), text="\ud800", many={1, 2})))
        self.assertTrue(record["thing"].startswith("<object object"))
        self.assertEqual(record["text"], "\ud800")
        self.assertEqual(record["many"], "{1, 2}")

    def test_fields_never_override_the_line(self) -> None:
        record = json.loads(flat_json_line(self.event(level="spoofed", message="spoofed", time=0)))
        self.assertEqual((record["level"], record["time"]), ("warn", "2025-12-06T12:00:00.250Z"))
        self.assertEqual(record["message"], "orders: backing off 2.0s")

    def test_a_broken_format_still_makes_a_line(self) -> None:
        record = json.loads(flat_json_line(self.event(log_format="{missing}")))
        self.assertIn("Unable to format event", record["message"])

    def test_observer_writes_lines(self) -> None:
        out = io.StringIO()
        publisher = LogPublisher(flat_json_file_observer(out))
        Logger(namespace="app", observer=publisher).info("hello {who}", who="ops")
        [record] = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual((record["logger"], record["level"], record["message"], record["who"]),
                         ("app", "info", "hello ops", "ops"))
