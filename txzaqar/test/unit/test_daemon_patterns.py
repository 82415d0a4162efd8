"""
Tests for C{twistd zaqar-listen --queue-pattern GLOB} and
C{--discovery-interval}: the options, their refusals, C{--check}'s lines,
the start-up check and the Subscriber the daemon makes of them.
"""

from __future__ import annotations

from typing import Any

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon import _service as _tap
from txzaqar.daemon._startup import startup_findings
from txzaqar.test.helpers.options import BASE, EnvironmentOptionsCase

HERE = "txzaqar.test.unit.test_daemon_patterns"


def orders(message: Any) -> None:
    """A plain handler."""


class PatternOptionTests(EnvironmentOptionsCase):
    def test_patterns_alone(self) -> None:
        """--queue-pattern alone is enough; it repeats; --discovery-interval defaults to 30."""
        options = self.parse("--queue-pattern", "orders-*", "--queue-pattern", "refunds-?")
        self.assertEqual(options["patterns"], ["orders-*", "refunds-?"])
        self.assertEqual(options["queues"], [])
        self.assertEqual(options["discovery-interval"], 30.0)
        self.assertEqual(options["subscriber-settings"].discovery_interval, 30.0)

    def test_with_queues_and_interval(self) -> None:
        options = self.parse("--queue", "misc", "--queue-pattern", "p-*", "--discovery-interval", "2.5")
        self.assertEqual(options["queues"], ["misc"])
        self.assertEqual(options["patterns"], ["p-*"])
        self.assertEqual(options["subscriber-settings"].discovery_interval, 2.5)
        lines = _tap._checked_locally(options)
        self.assertEqual(lines[0], "options: --queue misc, --queue-pattern p-*")
        self.assertIn("pattern p-*: the queues matching it would be consumed, listed every 2.5s", lines)

    def test_environment(self) -> None:
        options = self.parse(env={"ZAQAR_LISTEN_QUEUE_PATTERN": "a-*, b-*",
                                  "ZAQAR_LISTEN_DISCOVERY_INTERVAL": "5"})
        self.assertEqual(options["patterns"], ["a-*", "b-*"])
        self.assertEqual(options["discovery-interval"], 5.0)

    def test_mistakes(self) -> None:
        self.assertEqual(self.refused(), "give at least one --queue NAME, --queue-pattern GLOB "
                                         "or --route QUEUE=package.module:function")
        self.assertEqual(self.refused("--queue-pattern", ""), "--queue-pattern must be 1 to 256 characters, not ''")
        self.assertIn("must be 1 to 256 characters", self.refused("--queue-pattern", "x" * 257))
        self.assertEqual(self.refused("--queue-pattern", "p-*", "--queue-pattern", "p-*"),
                         "--queue-pattern p-* is given twice")
        self.assertEqual(self.refused("--queue-pattern", "p-*", "--discovery-interval", "0"),
                         "--discovery-interval must be a positive number of seconds, not 0")
        self.assertEqual(self.refused("--queue-pattern", "p-*", "--discovery-interval", "inf"),
                         "--discovery-interval must be a positive number of seconds, not inf")
        self.assertIn("cannot be combined with --queue-pattern",
                      self.refused("--queue-pattern", "p-*", "--dead-letter-queue", "dlq",
                                   "--max-claim-count", "3"))

    def test_scale_options(self) -> None:
        """--max-queues-per-page, --stats-rate and --safety-rate: defaults, values, refusals."""
        options = self.parse("--queue-pattern", "p-*")
        self.assertEqual((options["max-queues-per-page"], options["stats-rate"]), (20, 4.0))
        self.assertEqual(options["subscriber-settings"].safety_rate, 4.0)
        options = self.parse("--queue-pattern", "p-*", "--max-queues-per-page", "1000", "--stats-rate", "0.5",
                             "--safety-rate", "2")
        self.assertEqual((options["max-queues-per-page"], options["stats-rate"]), (1000, 0.5))
        self.assertEqual(options["subscriber-settings"].safety_rate, 2.0)
        self.assertEqual(self.parse("--queue-pattern", "p-*", env={"ZAQAR_LISTEN_STATS_RATE": "8"})["stats-rate"], 8.0)
        for bad in ("0", "1001"):  # worded as --batch's
            self.assertEqual(self.refused("--queue-pattern", "p-*", "--max-queues-per-page", bad),
                             f"--max-queues-per-page must be from 1 to 1000, not {bad}")
        self.assertEqual(self.refused("--queue-pattern", "p-*", "--max-queues-per-page", "x"),
                         "--max-queues-per-page must be a whole number from 1 to 1000, not 'x'")
        for bad in ("0", "-1", "inf", "nan", "x"):
            self.assertEqual(self.refused("--queue-pattern", "p-*", "--stats-rate", bad),
                             f"--stats-rate must be a finite, positive number per second, not {bad!r}")
        self.assertEqual(self.refused("--queue-pattern", "p-*", "--safety-rate", "0"),
                         "--safety-rate must be a finite, positive number per second, not '0'")

    def test_signed_url_refused(self) -> None:
        self.patch(_tap.os, "environ", {})
        e = self.assertRaises(UsageError, _tap.Options().parseOptions,
                              ["--url", "http://127.0.0.1:8888", "--signed-url-file", "/nonexistent",
                               "--queue-pattern", "p-*"])
        self.assertIn("--queue-pattern lists the project's queues", str(e))


class PatternServiceTests(SynchronousTestCase):
    def test_psubscribed_with_the_handler(self) -> None:
        """makeService psubscribes each pattern with --handler's (recording) handler."""
        self.patch(_tap.os, "environ", {})
        options = _tap.Options()
        options.parseOptions([*BASE, "--queue", "misc", "--queue-pattern", "p-*", "--queue-pattern", "q-*",
                              "--discovery-interval", "3", "--handler", f"{HERE}:orders"])
        service = _tap.makeService(options)
        subscriber: Any = service.subscriber
        self.assertEqual(subscriber.patterns, {"p-*", "q-*"})
        self.assertEqual(subscriber.settings.discovery_interval, 3.0)
        self.assertEqual(set(subscriber._channels), {"misc"})
        # the same handler as the --queue queue's, so set up once and counted for /readyz
        self.assertIs(subscriber._patterns["p-*"], subscriber._channels["misc"].callback)
        self.assertIs(subscriber._patterns["p-*"].__wrapped__, orders)

    def test_listing_pages(self) -> None:
        """--max-queues-per-page sets the client's, which discovery's listings ask for."""
        self.patch(_tap.os, "environ", {})
        options = _tap.Options()
        options.parseOptions([*BASE, "--queue-pattern", "p-*", "--max-queues-per-page", "500"])
        service = _tap.makeService(options)
        self.assertEqual(service.subscriber.client.max_queues_per_page, 500)


class _Queue:
    def __init__(self, name: str) -> None:
        self.name = name


class _Client:
    """A client whose listing of queues the test counts."""

    class connection:
        url = "http://zaqar"

    def __init__(self) -> None:
        self.listed = 0

    async def ping(self) -> None:
        pass

    async def iter_queues(self, limit: int) -> Any:
        self.listed += 1
        yield _Queue("p-1")


class StartupTests(SynchronousTestCase):
    def test_patterns_only_lists_nothing(self) -> None:
        """With no --queue (patterns only), the start-up check neither lists nor warns."""
        from twisted.internet.defer import Deferred

        client = _Client()
        findings = self.successResultOf(Deferred.fromCoroutine(startup_findings(client, [])))  # type: ignore[arg-type]
        self.assertEqual([f.status for f in findings], ["ok"])
        self.assertEqual(client.listed, 0)
