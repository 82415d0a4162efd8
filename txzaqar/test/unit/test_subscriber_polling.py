"""
What an operator reads when polls fail: one warning when a queue starts
failing, the retries at debug, one info line when it recovers; refused
credentials and missing queues at error, with what to do.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import LogLevel

from txzaqar import errors
from txzaqar.test.helpers.recording import Recorder
from txzaqar.test.helpers.subscriber import SubscriberTestsMixin


class FailureLogTests(SubscriberTestsMixin):
    def poll_events(self) -> list[tuple[LogLevel, str]]:
        """(level, format) of the events about failing and recovering polls."""
        return [
            (e["log_level"], e["log_format"]) for e in self.events
            if "backing off" in e.get("log_format", "") and "is empty" not in e["log_format"]
            or "recovered after" in e.get("log_format", "")
        ]

    def fail_then_recover(self, failures: list[Any]) -> Any:
        sub = self.subscriber()
        sub.subscribe("q", Recorder())
        q = self.client.queues["q"]
        q.errors = list(failures)
        q.add(1)
        sub.startService()
        self.clock.pump([1] * 40)
        return sub

    def test_one_warning_then_debug_then_one_recovery(self) -> None:
        sub = self.fail_then_recover([errors.ServiceUnavailable("down", code=503) for _ in range(4)])
        levels = [level for level, _ in self.poll_events()]
        self.assertEqual(levels, [LogLevel.warn] + [LogLevel.debug] * 3 + [LogLevel.info])
        [recovered] = [e for e in self.events if "recovered after" in e.get("log_format", "")]
        self.assertEqual((recovered["queue"], recovered["failed_polls"]), ("q", 4))
        self.assertEqual(recovered["duration"], 15)  # failed at 0, 1, 3, 7; answered at 15
        warning = [e for e in self.events if e["log_level"] == LogLevel.warn][0]
        self.assertIn("ServiceUnavailable (503)", warning["reason"])
        self.assertGreater(warning["delay"], 0)
        self.stop(sub)

    def test_refused_credentials_at_error_with_advice(self) -> None:
        refused = [errors.Unauthorized("Unauthorized", code=401) for _ in range(3)]
        sub = self.fail_then_recover(refused)
        levels = [level for level, _ in self.poll_events()]
        self.assertEqual(levels, [LogLevel.error] + [LogLevel.debug] * 2 + [LogLevel.info])
        [error] = [e for e in self.events if e["log_level"] == LogLevel.error]
        self.assertIn("credentials are refused", error["advice"])
        self.stop(sub)

    def test_a_new_kind_of_failure_is_said_again(self) -> None:
        failures: list[Any] = [errors.ServiceUnavailable("down", code=503)] * 2
        failures += [errors.Forbidden("Forbidden", code=403)] * 2
        failures += [errors.NotFound("gone", code=404)]
        sub = self.fail_then_recover(failures)
        levels = [level for level, _ in self.poll_events()]
        self.assertEqual(
            levels,
            [LogLevel.warn, LogLevel.debug, LogLevel.error, LogLevel.debug, LogLevel.error, LogLevel.info],
        )
        advice = [e["advice"] for e in self.events if e["log_level"] == LogLevel.error]
        self.assertIn("roles", advice[0])
        self.assertIn("queue", advice[1])
        self.stop(sub)

    def test_no_body_in_warnings(self) -> None:
        sub = self.fail_then_recover([errors.ServiceUnavailable("down", code=503)])
        for event in self.events:
            if event["log_level"] >= LogLevel.warn:
                self.assertNotIn("{'n':", repr(event))
        self.stop(sub)
