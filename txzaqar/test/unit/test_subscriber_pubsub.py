"""
Unit tests for the redis-py PubSub shape of L{txzaqar.subscriber.Subscriber}:
several queues in one C{subscribe}, C{unsubscribe()} of everything, and
C{get_message(timeout=)}, over the in-memory Zaqar on a L{Clock}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.errors import ClientValidationError
from txzaqar.testing import memory_subscriber


class PubSubTestCase(SynchronousTestCase):
    """A Subscriber on the in-memory Zaqar, stopped at the end."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.sub, self.client, self.fake = memory_subscriber(
            clock=self.clock, batch=5, poll_interval=1, max_interval=2, ack_delay=0)
        self.addCleanup(self.stop)

    def stop(self) -> None:
        if self.sub.running:
            stopping = self.sub.stopService()
            self.clock.advance(self.sub.stop_timeout)  # a message still held is released
            self.successResultOf(stopping)

    def post(self, queue: str, *bodies: Any) -> None:
        self.successResultOf(self.client.queue(queue).post([{"body": b} for b in bodies]))

    def total(self, queue: str) -> int:
        return int(self.successResultOf(self.client.queue(queue).stats()).total)

    def run_for(self, seconds: float, step: float = 0.5) -> None:
        for _ in range(int(seconds / step)):
            self.clock.advance(step)


class SubscribeManyTests(PubSubTestCase):
    def test_list_of_names_share_the_callback(self) -> None:
        seen: list[tuple[str, Any]] = []
        self.sub.subscribe(["a", "b"], lambda m: seen.append((m.queue.name, m.body)))
        self.assertEqual(self.sub.channels, frozenset({"a", "b"}))
        self.post("a", 1)
        self.post("b", 2)
        self.sub.startService()
        self.run_for(2)
        self.assertEqual(sorted(seen), [("a", 1), ("b", 2)])

    def test_mapping_of_names_to_callbacks(self) -> None:
        """Each queue to its own callback; C{None} sends a queue to the pull stream."""
        a: list[Any] = []
        b: list[Any] = []
        self.sub.subscribe({"a": lambda m: a.append(m.body), "b": lambda m: b.append(m.body), "c": None})
        self.post("a", 1)
        self.post("b", 2)
        self.post("c", 3)
        self.sub.startService()
        self.run_for(2)
        self.assertEqual((a, b), ([1], [2]))
        message = self.successResultOf(self.sub.get_message(timeout=0))
        self.assertEqual(message.body, 3)

    def test_options_apply_to_each(self) -> None:
        self.sub.subscribe(("a", "b"), lambda m: None, dead_letter_queue="dead", max_claim_count=3)
        self.assertEqual(self.sub.dead_letter_queues(), {"a": "dead", "b": "dead"})

    def test_refused_call_subscribes_none(self) -> None:
        """Every name is checked first: one bad name, or one already subscribed, subscribes none."""
        self.sub.subscribe("b", lambda m: None)
        for bad in (["a", "b"], ["a", "bad name!"], {"a": None, "c": 42}):
            callback = None if isinstance(bad, dict) else print
            self.assertRaises(ClientValidationError, self.sub.subscribe, bad, callback)
            self.assertEqual(self.sub.channels, frozenset({"b"}))

    def test_typed_errors(self) -> None:
        for bad, callback in (([], None), ({}, None), (["a", "a"], None), ({"a": None}, print),
                              (42, None), ([1], None), (b"a", None), ("a", "not callable")):
            with self.subTest(bad=bad):
                error = self.assertRaises(ClientValidationError, self.sub.subscribe, bad, callback)
                self.assertIsInstance(error, ValueError)
        self.assertEqual(self.sub.channels, frozenset())

    def test_single_name_still_works(self) -> None:
        seen: list[Any] = []
        self.sub.subscribe("q", lambda m: seen.append(m.body), None, None, 2)
        self.post("q", 7)
        self.sub.startService()
        self.run_for(1)
        self.assertEqual(seen, [7])


class UnsubscribeAllTests(PubSubTestCase):
    def test_no_argument_unsubscribes_every_queue(self) -> None:
        self.sub.subscribe(["a", "b", "c"], lambda m: None)
        self.sub.startService()
        self.successResultOf(self.sub.unsubscribe())
        self.assertEqual(self.sub.channels, frozenset())
        self.post("a", 1)
        self.run_for(5)
        self.assertEqual(self.total("a"), 1)

    def test_several_names(self) -> None:
        self.sub.subscribe(["a", "b", "c"], lambda m: None)
        self.successResultOf(self.sub.unsubscribe(["a", "c", "never"]))
        self.assertEqual(self.sub.channels, frozenset({"b"}))

    def test_bad_argument_is_typed(self) -> None:
        self.sub.subscribe("a", lambda m: None)
        for bad in (42, [1], {"a": None}.items()):
            self.assertRaises(ClientValidationError, self.sub.unsubscribe, bad)
        self.assertEqual(self.sub.channels, frozenset({"a"}))


class GetMessageTests(PubSubTestCase):
    def test_next_message_then_acknowledged_by_the_next_call(self) -> None:
        self.sub.subscribe("jobs")
        self.post("jobs", 1, 2)
        self.sub.startService()
        first = self.successResultOf(self.sub.get_message())
        self.assertEqual(first.body, 1)
        self.assertEqual(self.total("jobs"), 2)
        second = self.successResultOf(self.sub.get_message())
        self.assertEqual(second.body, 2)
        self.clock.advance(0)
        self.assertEqual(self.total("jobs"), 1)  # the first one is deleted

    def test_timeout_fires_with_none(self) -> None:
        self.sub.subscribe("jobs")
        self.sub.startService()
        d = self.sub.get_message(timeout=3)
        self.clock.advance(2.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.assertIsNone(self.successResultOf(d))
        # the reader left the line: a message posted now waits for the next call
        self.post("jobs", 5)
        self.run_for(2)
        self.assertEqual(self.successResultOf(self.sub.get_message(timeout=0)).body, 5)

    def test_waits_for_a_message_posted_later(self) -> None:
        self.sub.subscribe("jobs")
        self.sub.startService()
        d = self.sub.get_message(timeout=10)
        self.post("jobs", "late")
        self.run_for(2)
        self.assertEqual(self.successResultOf(d).body, "late")

    def test_none_at_once_when_nothing_can_come(self) -> None:
        self.sub.subscribe("a", lambda m: None)
        self.sub.startService()
        self.assertIsNone(self.successResultOf(self.sub.get_message()))

    def test_held_message_released_at_stop(self) -> None:
        self.sub = memory_subscriber(clock=self.clock, client=self.client, fake=self.fake,
                                     stop_timeout=1)[0]
        self.sub.subscribe("jobs")
        self.post("jobs", 1)
        self.sub.startService()
        self.assertEqual(self.successResultOf(self.sub.get_message()).body, 1)
        stopping = self.sub.stopService()
        self.clock.advance(1)
        self.successResultOf(stopping)
        self.assertEqual(self.sub.stats["released"], 1)
        self.assertEqual(self.total("jobs"), 1)

    def test_bad_timeout_is_typed(self) -> None:
        for bad in (-1, float("inf"), float("nan"), "1", True):
            self.assertRaises(ClientValidationError, self.sub.get_message, bad)


class PatternTests(PubSubTestCase):
    """C{psubscribe}: queues found by listing the project's queues every C{discovery_interval}."""

    def setUp(self) -> None:
        super().setUp()
        self.sub = memory_subscriber(clock=self.clock, client=self.client, fake=self.fake, batch=5,
                                     poll_interval=1, max_interval=2, ack_delay=0, discovery_interval=10)[0]
        self.seen: list[tuple[str, Any]] = []

    def record(self, message: Any) -> None:
        self.seen.append((message.queue.name, message.body))

    def create(self, *names: str) -> None:
        for name in names:
            self.successResultOf(self.client.create_queue(name))

    def test_existing_and_later_queues_are_consumed(self) -> None:
        self.create("orders-1", "orders-2", "refunds-1")
        self.sub.psubscribe("orders-*", self.record)
        self.assertEqual(self.sub.patterns, frozenset({"orders-*"}))
        self.assertEqual(self.sub.channels, frozenset())  # not before it starts
        self.sub.startService()
        self.assertEqual(self.sub.channels, frozenset({"orders-1", "orders-2"}))
        self.assertEqual(self.sub.discovered(), {"orders-1": "orders-*", "orders-2": "orders-*"})
        self.post("orders-3", "new")  # creates the queue
        self.clock.advance(9.5)
        self.assertNotIn("orders-3", self.sub.channels)
        self.run_for(2)  # the listing at 10 s finds it
        self.assertIn(("orders-3", "new"), self.seen)

    def test_discover_now_reports_added_and_removed(self) -> None:
        self.create("a1")
        self.sub.psubscribe("a?", self.record)
        self.sub.startService()
        self.create("a2", "b1")
        self.successResultOf(self.client.queue("a1").delete())
        found = self.successResultOf(self.sub.discover())
        self.assertEqual((found.added, found.removed), (frozenset({"a2"}), frozenset({"a1"})))
        self.assertEqual(self.sub.channels, frozenset({"a2"}))

    def test_explicit_subscription_is_never_dropped(self) -> None:
        self.create("a1", "a2")
        self.sub.subscribe("a1", self.record)
        self.sub.psubscribe("a*", self.record)
        self.sub.startService()
        self.assertEqual(self.sub.discovered(), {"a2": "a*"})
        self.successResultOf(self.client.queue("a1").delete())
        self.successResultOf(self.client.queue("a2").delete())
        found = self.successResultOf(self.sub.discover())
        self.assertEqual(found.removed, frozenset({"a2"}))
        self.assertEqual(self.sub.channels, frozenset({"a1"}))
        self.successResultOf(self.sub.punsubscribe())
        self.assertEqual(self.sub.channels, frozenset({"a1"}))

    def test_punsubscribe_drops_its_queues_and_stops_listing(self) -> None:
        self.create("a1", "b1")
        self.sub.psubscribe({"a*": self.record, "b*": None})
        self.sub.startService()
        self.assertEqual(self.sub.channels, frozenset({"a1", "b1"}))
        self.successResultOf(self.sub.punsubscribe("a*"))
        self.assertEqual((self.sub.patterns, self.sub.channels), (frozenset({"b*"}), frozenset({"b1"})))
        self.successResultOf(self.sub.punsubscribe())
        self.assertEqual((self.sub.patterns, self.sub.channels), (frozenset(), frozenset()))
        self.create("a2")
        self.run_for(30)
        self.assertEqual(self.sub.channels, frozenset())

    def test_pattern_is_case_sensitive_glob(self) -> None:
        self.create("Orders-1", "orders-x", "orders-10")
        self.sub.psubscribe("orders-[0-9]", self.record)
        self.sub.startService()
        self.assertEqual(self.sub.channels, frozenset())
        self.create("orders-7")
        self.assertEqual(self.successResultOf(self.sub.discover()).added, frozenset({"orders-7"}))

    def test_psubscribe_while_running_lists_at_once(self) -> None:
        self.create("a1")
        self.sub.startService()
        self.sub.psubscribe("a*", self.record)
        self.assertEqual(self.sub.channels, frozenset({"a1"}))

    def test_errors_counted_and_logged_once(self) -> None:
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import globalLogPublisher

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        self.create("a1")
        broken = []

        def fail(*a: Any, **kw: Any) -> Any:
            from twisted.internet.defer import fail as failed

            from txzaqar.errors import ServiceUnavailable
            broken.append(1)
            return failed(ServiceUnavailable("down"))

        self.patch(self.client, "queues", fail)
        self.sub.psubscribe("a*", self.record)
        self.sub.startService()
        self.run_for(30, step=5)
        self.assertEqual(self.sub.discovery_errors, 4)
        warnings = [e for e in events if "listing the queues" in e.get("log_format", "")]
        self.assertEqual(len(warnings), 1)
        self.assertIn("ServiceUnavailable", warnings[0]["error"])
        self.failureResultOf(self.sub.discover())
        self.assertEqual(self.sub.channels, frozenset())
        self.patch(self.client, "queues", type(self.client).queues.__get__(self.client))
        self.clock.advance(10)
        self.assertEqual(self.sub.channels, frozenset({"a1"}))

    def test_bad_input_is_typed(self) -> None:
        self.sub.psubscribe("a*")
        for bad, callback in (("", None), ("a*", None), ("x" * 257, None), ("b*", 42), (42, None), ([], None)):
            with self.subTest(bad=bad):
                self.assertRaises(ClientValidationError, self.sub.psubscribe, bad, callback)
        self.assertRaises(ClientValidationError, self.sub.punsubscribe, 42)
        self.assertEqual(self.sub.patterns, frozenset({"a*"}))

    def test_discovery_interval_is_checked(self) -> None:
        from txzaqar.subscriber import SubscriberSettings

        self.assertEqual(SubscriberSettings().discovery_interval, 30.0)
        for bad in (0, -1, float("inf"), "30"):
            self.assertRaises(ClientValidationError, SubscriberSettings, discovery_interval=bad)

    def test_stop_stops_listing(self) -> None:
        self.sub.psubscribe("a*", self.record)
        self.sub.startService()
        self.successResultOf(self.sub.stopService())
        self.create("a1")
        self.run_for(30, step=5)
        self.assertEqual(self.sub.channels, frozenset())

    def test_listing_pages_are_the_clients_largest(self) -> None:
        """Discovery asks for pages of the client's max_queues_per_page (raised where the server's is)."""
        from twisted.internet.defer import succeed

        asked: list[dict[str, Any]] = []

        def queues(**kw: Any) -> Any:
            asked.append(kw)
            return succeed([self.client.queue("a1")])

        self.patch(self.client, "queues", queues)
        self.sub.psubscribe("a*", self.record)
        self.successResultOf(self.sub.discover())
        self.client.max_queues_per_page = 1000
        self.successResultOf(self.sub.discover())
        self.assertEqual([kw["limit"] for kw in asked], [20, 1000])

    def test_log_line_stays_short_with_many_queues(self) -> None:
        """The discovery's log line names ten queues at most, and counts the rest."""
        from twisted.logger import formatEvent, globalLogPublisher
        from twisted.test.proto_helpers import EventLoggingObserver

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        self.create(*[f"a{i:03d}" for i in range(120)])
        self.sub.psubscribe("a*", self.record)
        self.sub.startService()
        [line] = [formatEvent(e) for e in events if "discovered queues" in formatEvent(e)]
        self.assertEqual(line, "discovered queues: 120 added (a000, a001, a002, a003, a004, a005, a006, a007, "
                               "a008, a009 and 110 more), 0 dropped (none)")

    def test_pages_larger_than_the_server_allows(self) -> None:
        """
        A client's max_queues_per_page above the server's: Zaqar (and the
        fake) refuse the listing; the one warning says what to look at.
        """
        from twisted.logger import formatEvent, globalLogPublisher
        from twisted.test.proto_helpers import EventLoggingObserver

        from txzaqar.errors import BadRequest

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        self.create("a1")
        self.client.max_queues_per_page = 1000
        self.sub.psubscribe("a*", self.record)
        self.failureResultOf(self.sub.discover(), BadRequest)
        [line] = [formatEvent(e) for e in events if "listing the queues" in formatEvent(e)]
        self.assertIn("no greater than 20", line)
        self.assertIn("(pages of 1000 queues: is the server's max_queues_per_page lower?)", line)
        self.client.max_queues_per_page = 20
        self.successResultOf(self.sub.discover())

    def test_max_queues_per_page_is_checked(self) -> None:
        """The client refuses a page above its max_queues_per_page before sending anything."""
        self.assertEqual(self.client.max_queues_per_page, 20)
        self.assertEqual(self.assertRaises(ClientValidationError, self.client.queues, limit=21).field, "limit")
        for bad in (0, 1001, "50", True, 2.0):
            error = self.assertRaises(ClientValidationError, setattr, self.client, "max_queues_per_page", bad)
            self.assertEqual(error.field, "max_queues_per_page")
        self.client.max_queues_per_page = 50
        listing = self.client.iter_queues(limit=50)
        self.assertIsNotNone(listing)

    def test_metrics(self) -> None:
        """The discovered queues per pattern, and the failed listings, in the subscriber's metrics."""
        from txzaqar.errors import ServiceUnavailable

        self.create("a1", "a2", "b1")
        self.sub.psubscribe({"a*": self.record, "b*": self.record})
        self.sub.startService()
        registry = self.sub.metrics.registry
        self.assertEqual(registry.get_sample_value("txzaqar_subscriber_discovered_queues", {"pattern": "a*"}), 2)
        self.assertEqual(registry.get_sample_value("txzaqar_subscriber_discovered_queues", {"pattern": "b*"}), 1)
        self.assertEqual(registry.get_sample_value("txzaqar_subscriber_discovery_errors_total"), 0)
        from twisted.internet.defer import fail

        self.patch(self.client, "queues", lambda **kw: fail(ServiceUnavailable("down")))
        self.failureResultOf(self.sub.discover(), ServiceUnavailable)
        self.assertEqual(registry.get_sample_value("txzaqar_subscriber_discovery_errors_total"), 1)
