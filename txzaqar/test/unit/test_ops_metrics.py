"""
Tests for L{txzaqar.ops.metrics} and the hooks it reads: per-queue counters,
gauges and histograms of a L{Subscriber} on the in-memory Zaqar and on a
L{Clock}, request operations, and the connection's request observers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IAgent
from zope.interface import implementer

from txzaqar import errors
from txzaqar.auth import NoAuth
from txzaqar.http.connection import Connection
from txzaqar.interfaces import IRequestObserver
from txzaqar.ops.metrics import SubscriberMetrics, operation
from txzaqar.subscriber import STATS
from txzaqar.subscriber.events import new_stats
from txzaqar.subscriber.service import callback_outcome
from txzaqar.test import readme
from txzaqar.test.helpers.subscriber import FakeClient
from txzaqar.testing import memory_client, memory_subscriber


def post(client: Any, queue: str, count: int, test: SynchronousTestCase) -> None:
    test.successResultOf(client.queue(queue).post([{"body": {"n": i}} for i in range(count)]))


class OperationTests(SynchronousTestCase):
    """L{operation}: a request's method and path as a label of few values."""

    def test_templates(self) -> None:
        cases = {
            ("post", "queues/orders/claims"): "POST queues/{queue}/claims",
            ("PATCH", "queues/orders/claims/5f3a"): "PATCH queues/{queue}/claims/{claim_id}",
            ("DELETE", "queues/orders/claims/5f3a"): "DELETE queues/{queue}/claims/{claim_id}",
            ("DELETE", "queues/orders/messages"): "DELETE queues/{queue}/messages",
            ("DELETE", "/v2/queues/q/messages/abc?claim_id=c"):
                "DELETE queues/{queue}/messages/{message_id}",
            ("GET", "/v2/queues?marker=q&limit=10"): "GET queues",
            ("GET", "queues/orders/stats"): "GET queues/{queue}/stats",
            ("PUT", "queues/orders"): "PUT queues/{queue}",
            ("PUT", "queues/o/subscriptions/s1/confirm"):
                "PUT queues/{queue}/subscriptions/{subscription_id}/confirm",
            ("GET", "pools/p1"): "GET pools/{pool}",
            ("GET", "ping"): "GET ping",
            ("GET", "/"): "GET ",
            ("GET", "/v3/whatever/else"): "GET {id}/{id}/{id}",
        }
        for (method, path), expected in cases.items():
            self.assertEqual(operation(method, path), expected, (method, path))


class SubscriberMetricsTests(SynchronousTestCase):
    """The metrics of a subscriber on the in-memory Zaqar."""

    def setUp(self) -> None:
        self.sub, self.client, self.fake = memory_subscriber(
            poll_interval=1.0, max_interval=8.0, jitter=lambda: 0.0, batch=5)
        self.clock = self.fake.clock
        self.metrics = self.sub.metrics
        self.registry = self.metrics.registry

    def tearDown(self) -> None:
        if self.sub.running:
            self.successResultOf(self.sub.stopService())

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def test_lazy_and_one(self) -> None:
        """C{subscriber.metrics} is made once, with a registry of its own."""
        self.assertIs(self.sub.metrics, self.metrics)
        self.assertIsInstance(self.registry, CollectorRegistry)
        other, _, _ = memory_subscriber()
        self.assertIsNot(other.metrics.registry, self.registry)

    def test_counters_per_queue(self) -> None:
        """
        Every counter of C{stats} is exported per queue, from
        C{queue_stats()}, and the queues add up to C{stats}.
        """
        seen: list[Any] = []
        self.sub.subscribe("orders", seen.append)
        self.sub.subscribe("refunds", seen.append)
        self.sub.startService()
        post(self.client, "orders", 7, self)
        post(self.client, "refunds", 3, self)
        self.clock.advance(2)
        self.clock.advance(2)
        self.assertEqual(len(seen), 10)
        by_queue = self.sub.queue_stats()
        self.assertEqual(by_queue["orders"]["processed"], 7)
        self.assertEqual(by_queue["refunds"]["processed"], 3)
        for name in STATS:
            self.assertEqual(by_queue["orders"][name] + by_queue["refunds"][name],
                             self.sub.stats[name], name)
            for queue in ("orders", "refunds"):
                self.assertEqual(self.value(f"txzaqar_subscriber_{name}_total", queue=queue),
                                 by_queue[queue][name], (name, queue))
        self.assertEqual(self.value("txzaqar_subscriber_acked_total", queue="orders"), 7)
        self.assertEqual(self.value("txzaqar_subscriber_claimed_total", queue="refunds"), 3)

    def test_counters_survive_unsubscribe(self) -> None:
        """A queue's counters stay (and only grow) after it is unsubscribed."""
        self.sub.subscribe("orders", lambda m: None)
        self.sub.startService()
        post(self.client, "orders", 2, self)
        self.clock.advance(2)
        self.successResultOf(self.sub.unsubscribe("orders"))
        self.assertEqual(self.value("txzaqar_subscriber_acked_total", queue="orders"), 2)
        self.sub.subscribe("orders", lambda m: None)
        post(self.client, "orders", 1, self)
        self.clock.advance(2)
        self.clock.advance(2)
        self.assertEqual(self.value("txzaqar_subscriber_acked_total", queue="orders"), 3)

    def test_callbacks_in_flight(self) -> None:
        """The gauge counts callbacks that have not finished, per queue."""
        pending: list[Deferred[None]] = []

        def handler(message: Any) -> Deferred[None]:
            d: Deferred[None] = Deferred()
            pending.append(d)
            return d

        self.sub.subscribe("orders", handler)
        self.sub.startService()
        post(self.client, "orders", 3, self)
        self.clock.advance(2)
        self.assertEqual(len(pending), 3)
        self.assertEqual(self.sub.callbacks_in_flight(), {"orders": 3})
        self.assertEqual(self.value("txzaqar_subscriber_callbacks_in_flight", queue="orders"), 3)
        pending[0].callback(None)
        self.assertEqual(self.value("txzaqar_subscriber_callbacks_in_flight", queue="orders"), 2)
        for d in pending[1:]:
            d.callback(None)
        self.assertEqual(self.value("txzaqar_subscriber_callbacks_in_flight", queue="orders"), 0)

    def test_idle_queue_reads_no_backoff(self) -> None:
        """
        A healthy idle queue backs off 1, 2, 4, 8, 8 s (no jitter): that is
        its poll interval gauge; its backoff gauge (errors only) reads 0
        throughout, so it can be alerted on.  Once a claim brings messages
        (a partial batch) the poll interval is C{poll_interval}.
        """
        self.sub.subscribe("orders", lambda m: None)
        self.sub.startService()
        backoff = [self.value("txzaqar_subscriber_backoff_seconds", queue="orders")]
        interval = [self.value("txzaqar_subscriber_poll_interval_seconds", queue="orders")]
        for step in (1, 2, 4, 8):
            self.clock.advance(step)
            backoff.append(self.value("txzaqar_subscriber_backoff_seconds", queue="orders"))
            interval.append(self.value("txzaqar_subscriber_poll_interval_seconds", queue="orders"))
        self.assertEqual(interval, [1.0, 2.0, 4.0, 8.0, 8.0])
        self.assertEqual(backoff, [0.0] * 5)
        self.assertEqual(self.sub.backoff_delays(), {"orders": 0.0})
        self.assertEqual(self.sub.poll_intervals(), {"orders": 8.0})
        post(self.client, "orders", 2, self)
        self.clock.advance(8)
        self.assertEqual(self.value("txzaqar_subscriber_poll_interval_seconds", queue="orders"), 1.0)
        self.assertEqual(self.value("txzaqar_subscriber_backoff_seconds", queue="orders"), 0.0)

    def test_failing_queue_reads_its_backoff(self) -> None:
        """
        A queue whose claims fail reads its delay, 1, 2, 4, 8 s, in the
        backoff gauge (its poll interval gauge 0), and 0 again once a claim
        answers; a healthy queue beside it reads 0 all along.
        """
        from txzaqar.subscriber import Subscriber

        clock = Clock()
        client = FakeClient(clock)
        sub = Subscriber(client, clock=clock, poll_interval=1.0, max_interval=8.0,  # type: ignore[arg-type]
                         jitter=lambda: 0.0)
        sub.subscribe("failing", lambda m: None)
        sub.subscribe("healthy", lambda m: None)
        client.queues["failing"].errors = [errors.ServiceUnavailable("down", code=503) for _ in range(4)]
        client.queues["failing"].add(1)
        registry = sub.metrics.registry

        def gauges(queue: str) -> tuple[float | None, float | None]:
            return (registry.get_sample_value("txzaqar_subscriber_backoff_seconds", {"queue": queue}),
                    registry.get_sample_value("txzaqar_subscriber_poll_interval_seconds", {"queue": queue}))

        sub.startService()
        self.addCleanup(lambda: self.successResultOf(sub.stopService()))
        seen = [gauges("failing")]
        healthy = [gauges("healthy")[0]]
        for step in (1, 2, 4):
            clock.advance(step)
            seen.append(gauges("failing"))
            healthy.append(gauges("healthy")[0])
        self.assertEqual(seen, [(1.0, 0.0), (2.0, 0.0), (4.0, 0.0), (8.0, 0.0)])
        self.assertEqual(healthy, [0.0] * 4)
        clock.advance(8)  # the claim answers with the message (a partial batch)
        self.assertEqual(gauges("failing"), (0.0, 1.0))
        self.assertEqual(sub.backoff_delays(), {"failing": 0.0, "healthy": 0.0})

    def test_push(self) -> None:
        """The push gauge per queue, and the push counters, with the in-memory fake's push."""
        client, fake = memory_client()
        sub, _, _ = memory_subscriber(client=client, fake=fake, push=fake.push(), jitter=lambda: 0.0)
        registry = sub.metrics.registry
        sub.subscribe("orders", lambda m: None)
        sub.subscribe("refunds", lambda m: None)
        sub.startService()
        fake.clock.advance(0)
        gauge = "txzaqar_subscriber_push_up"
        self.assertEqual([registry.get_sample_value(gauge, {"queue": q}) for q in ("orders", "refunds")],
                         [1.0, 1.0])
        post(client, "orders", 2, self)
        fake.clock.advance(0)
        self.assertEqual(registry.get_sample_value("txzaqar_subscriber_notifications_total",
                                                   {"queue": "orders"}), 2)
        self.assertEqual(registry.get_sample_value("txzaqar_subscriber_processed_total", {"queue": "orders"}), 2)
        sub.push.disconnect()
        fake.clock.advance(0)
        self.assertEqual(registry.get_sample_value(gauge, {"queue": "orders"}), 0.0)
        self.assertEqual(registry.get_sample_value("txzaqar_subscriber_push_fallbacks_total",
                                                   {"queue": "orders"}), 1)
        self.successResultOf(sub.stopService())

    def test_callback_duration_by_outcome(self) -> None:
        from twisted.internet.defer import TimeoutError

        """Durations are observed on the clock, labelled ok, failed or timeout."""
        sub, client, fake = memory_subscriber(poll_interval=1.0, callback_timeout=30.0, batch=5)
        metrics = sub.metrics
        pending: dict[int, Deferred[None]] = {}
        seen: set[int] = set()

        def handler(message: Any) -> Any:
            n = message.body["n"]
            if n in seen:
                return None  # redelivered: succeeds at once
            seen.add(n)
            if n == 1:
                raise ValueError("bad message")
            d: Deferred[None] = Deferred()
            pending[n] = d
            return d

        sub.subscribe("orders", handler)
        sub.startService()
        self.addCleanup(lambda: self.successResultOf(sub.stopService()))
        post(client, "orders", 3, self)
        fake.clock.advance(1)
        fake.clock.advance(4)
        pending[0].callback(None)  # ok after 4 s
        fake.clock.advance(26)  # message 2 times out 30 s after it started (t=1); 1 and 2 come back
        fake.clock.advance(8)

        def sample(suffix: str, outcome: str) -> float | None:
            return metrics.registry.get_sample_value(
                f"txzaqar_subscriber_callback_duration_seconds_{suffix}",
                {"queue": "orders", "outcome": outcome})

        self.assertEqual((sample("count", "ok"), sample("sum", "ok")), (3, 4.0))
        self.assertEqual((sample("count", "failed"), sample("sum", "failed")), (1, 0.0))
        self.assertEqual((sample("count", "timeout"), sample("sum", "timeout")), (1, 30.0))
        self.assertEqual(sub.stats["acked"], 3)
        self.flushLoggedErrors(ValueError, TimeoutError)

    def test_outcome_names(self) -> None:
        from twisted.internet.defer import TimeoutError
        from twisted.python.failure import Failure

        from txzaqar.subscriber import NotProcessed

        self.assertEqual(callback_outcome(None), "ok")
        self.assertEqual(callback_outcome(Failure(ValueError())), "failed")
        self.assertEqual(callback_outcome(Failure(TimeoutError())), "timeout")
        self.assertEqual(callback_outcome(Failure(NotProcessed())), "unprocessed")

    def test_message_age(self) -> None:
        """A message's age (from its claim) is observed when its callback is called."""
        self.sub.subscribe("orders", lambda m: None)
        post(self.client, "orders", 2, self)
        self.clock.advance(42)
        self.sub.startService()
        self.assertEqual(self.value("txzaqar_subscriber_message_age_seconds_count", queue="orders"), 2)
        self.assertEqual(self.value("txzaqar_subscriber_message_age_seconds_sum", queue="orders"), 84)
        self.assertEqual(self.value("txzaqar_subscriber_message_age_seconds_bucket",
                                    queue="orders", le="30.0"), 0)
        self.assertEqual(self.value("txzaqar_subscriber_message_age_seconds_bucket",
                                    queue="orders", le="60.0"), 2)

    def test_request_duration(self) -> None:
        """Every request of the client, by operation and status."""
        self.sub.subscribe("orders", lambda m: None)
        self.sub.startService()  # an empty claim: 204
        post(self.client, "orders", 2, self)  # 201
        self.clock.advance(1)  # a claim: 201; then the delete
        self.clock.advance(1)
        self.failureResultOf(self.client.queue("orders").message("nope"), errors.NotFound)

        def count(op: str, status: str) -> float | None:
            return self.value("txzaqar_request_duration_seconds_count", operation=op, status=status)

        stats = self.sub.stats
        self.assertEqual(count("POST queues/{queue}/claims", "204"), stats["empty_polls"])
        self.assertEqual(count("POST queues/{queue}/claims", "201"), stats["polls"] - stats["empty_polls"])
        self.assertEqual(stats["polls"] - stats["empty_polls"], 1)
        self.assertEqual(count("POST queues/{queue}/messages", "201"), 1)
        self.assertEqual(count("DELETE queues/{queue}/messages", "204"), 1)
        self.assertEqual(count("GET queues/{queue}/messages/{message_id}", "404"), 1)

    def test_request_without_answer(self) -> None:
        """An attempt that got no answer is C{status="error"}; each retry is one attempt."""
        clock = Clock()
        connection = Connection(_RefusingAgent(), clock, NoAuth("p"), url="http://zaqar.invalid",
                                retries=2)
        subscriber = _Stub(connection)
        metrics = SubscriberMetrics(subscriber)
        d = connection.get("queues/q/stats")
        clock.advance(1)
        clock.advance(1)
        self.failureResultOf(d, errors.ConnectionFailed)
        self.assertEqual(metrics.registry.get_sample_value(
            "txzaqar_request_duration_seconds_count",
            {"operation": "GET queues/{queue}/stats", "status": "error"}), 3)

    def test_scrape_parses(self) -> None:
        """The whole registry parses with prometheus-client's own parser."""
        self.sub.subscribe("orders", lambda m: None)
        self.sub.startService()
        post(self.client, "orders", 1, self)
        self.clock.advance(2)
        text = generate_latest(self.registry).decode("utf-8")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        self.assertEqual(families["txzaqar_subscriber_processed"].type, "counter")
        self.assertEqual(families["txzaqar_subscriber_callbacks_in_flight"].type, "gauge")
        self.assertEqual(families["txzaqar_subscriber_callback_duration_seconds"].type, "histogram")
        self.assertEqual(families["txzaqar_subscriber_ready"].samples[0].value, 1.0)

    def test_detach(self) -> None:
        """After C{detach} nothing more is observed; counters still read the subscriber."""
        self.sub.subscribe("orders", lambda m: None)
        self.metrics.detach()
        self.assertEqual(self.client.connection.observers, [])
        self.sub.startService()
        post(self.client, "orders", 1, self)
        self.clock.advance(2)
        self.assertIsNone(self.value("txzaqar_subscriber_message_age_seconds_count", queue="orders"))
        self.assertEqual(self.value("txzaqar_subscriber_processed_total", queue="orders"), 1)


class FreeWhenUnusedTests(SynchronousTestCase):
    def test_nothing_attached(self) -> None:
        """Without metrics, no observer is attached anywhere."""
        sub, client, fake = memory_subscriber()
        self.assertEqual(client.connection.observers, [])
        self.assertEqual(sub._observers, [])

    def test_observer_errors_are_logged(self) -> None:
        """An observer that raises is logged; delivery and the request go on."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        sub, client, fake = memory_subscriber(poll_interval=1.0)

        class Broken:
            def message_delivered(self, queue: str, message: Any) -> None:
                raise RuntimeError("observer bug")

            def callback_finished(self, queue: str, seconds: float, outcome: str) -> None:
                raise RuntimeError("observer bug")

        @implementer(IRequestObserver)
        class BrokenRequestObserver:
            def request_finished(self, *args: Any) -> None:
                raise RuntimeError("request observer bug")

        sub.add_observer(Broken())
        client.connection.observers.append(BrokenRequestObserver())
        seen: list[Any] = []
        sub.subscribe("orders", seen.append)
        sub.startService()
        post(client, "orders", 1, self)
        fake.clock.advance(2)
        self.assertEqual(len(seen), 1)
        self.assertEqual(sub.stats["acked"], 1)
        self.assertTrue(self.flushLoggedErrors(RuntimeError))
        self.assertTrue(any("observer" in e.get("log_format", "") for e in events))
        self.successResultOf(sub.stopService())

    def test_fake_client_without_connection(self) -> None:
        """A subscriber whose client has no connection still gets metrics (no request histogram)."""
        from txzaqar.subscriber import Subscriber

        clock = Clock()
        sub = Subscriber(FakeClient(clock), clock=clock)  # type: ignore[arg-type]
        sub.subscribe("jobs", lambda m: None)
        self.assertEqual(sub.metrics.registry.get_sample_value(
            "txzaqar_subscriber_polls_total", {"queue": "jobs"}), 0)


@implementer(IAgent)
class _RefusingAgent:
    def request(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        return fail(ConnectionRefusedError())


class _Stub:
    """Just enough of a subscriber for L{SubscriberMetrics}: a client with a connection."""

    def __init__(self, connection: Connection) -> None:
        self.client = self
        self._connection = connection
        self.stats = new_stats()

    def connection(self) -> Connection:
        return self._connection

    def add_observer(self, observer: Any) -> None:
        pass

    def queue_stats(self) -> dict[str, dict[str, int]]:
        return {}


class OperationNameTests(SynchronousTestCase):
    """
    Every request a resource makes names its operation (L{txzaqar.api._paths}),
    and the name is the label L{operation} reads from its path: the metric
    labels are what they were when they were parsed from paths.
    """

    def test_named_as_parsed(self) -> None:
        seen: list[tuple[str, str, str | None]] = []

        @implementer(IRequestObserver)
        class Seen:
            def request_finished(self, method: str, path: str, status: int | None, seconds: float,
                                 operation: str | None = None) -> None:
                seen.append((method, path, operation))

        client, fake = memory_client()
        client.connection.observers.append(Seen())
        queue = client.queue("orders")

        async def everything() -> None:
            await client.create_queue("orders")
            await queue.set_metadata({"a": 1})
            await queue.metadata()
            await queue.stats()
            ids = await queue.post([{"body": n} for n in range(3)])
            await queue.message(ids[0])
            await queue.get_messages(ids)
            claim = await queue.claim(limit=2)
            await claim.reload()
            await claim.patch(ttl=120)
            await claim.messages[0].delete()
            await claim.release()
            await queue.delete_messages(ids[1:2])
            await queue.pop(1)
            await queue.messages()
            subscription = await queue.subscribe("http://example.com/hook", ttl=3600)
            await subscription.reload()
            await subscription.update(ttl=7200)
            await queue.subscriptions()
            await subscription.delete()
            await queue.purge()
            await client.queues()
            await client.queue_count()
            await client.ping()
            await client.ping(head=True)
            await client.home()
            await queue.delete()

        self.successResultOf(Deferred.fromCoroutine(everything()))
        self.assertGreater(len(seen), 25)
        for method, path, name in seen:
            self.assertIsNotNone(name, (method, path))
            self.assertEqual(f"{method} {name}", operation(method, path), (method, path))


class BacklogAndCapacityTests(SynchronousTestCase):
    """The queue stats refresher, the dead-letter counter, capacity and the exposition."""

    def setUp(self) -> None:
        self.sub, self.client, self.fake = memory_subscriber(
            poll_interval=1.0, max_interval=1.0, jitter=lambda: 0.0, batch=5, concurrency=7)
        self.clock = self.fake.clock
        self.metrics = self.sub.metrics
        self.requests: list[str] = []

        @implementer(IRequestObserver)
        class Seen:
            def request_finished(self_, method: str, path: str, status: int | None, seconds: float,
                                 operation: str | None = None) -> None:
                self.requests.append(f"{method} {operation}")

        self.client.connection.observers.append(Seen())

    def tearDown(self) -> None:
        if self.sub.running:
            self.successResultOf(self.sub.stopService())

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    def test_refreshed_not_scraped(self) -> None:
        """
        The backlog gauges come from one stats request per queue per
        interval; a scrape sends none.
        """
        self.sub.subscribe("orders", lambda m: None)
        self.sub.subscribe("refunds", lambda m: None)
        post(self.client, "orders", 3, self)
        refresher = self.metrics.refresher(10.0, self.clock)
        refresher.startService()
        self.addCleanup(refresher.stopService)
        stats = [r for r in self.requests if r.endswith("stats")]
        self.assertEqual(len(stats), 2)
        self.assertEqual(self.value("txzaqar_queue_free_messages", queue="orders"), 3)
        self.assertEqual(self.value("txzaqar_queue_messages", queue="orders"), 3)
        self.assertEqual(self.value("txzaqar_queue_claimed_messages", queue="orders"), 0)
        self.assertEqual(self.value("txzaqar_queue_messages", queue="refunds"), 0)
        self.clock.advance(30)
        self.assertEqual(self.value("txzaqar_queue_oldest_message_age_seconds", queue="orders"), 30)
        self.assertEqual(self.value("txzaqar_queue_stats_refreshed_timestamp_seconds", queue="orders"), 30)
        before = len(self.requests)
        for _ in range(3):
            generate_latest(self.metrics.registry)
            generate_latest(self.metrics.exposition())
        self.assertEqual(len(self.requests), before)
        # one refresh at 0 and one at 30 (the missed ones are skipped, not caught up): 2 x 2 queues
        self.assertEqual(len([r for r in self.requests if r.endswith("stats")]), 4)

    def test_refresh_rate(self) -> None:
        """
        At most C{rate} stats requests start per second: with more queues
        than C{interval * rate}, a refresh takes C{queues / rate} seconds and
        the next one follows it; stopping ends a refresh under way.
        """
        for i in range(8):
            self.sub.subscribe(f"q{i}", lambda m: None)
        refresher = self.metrics.refresher(2.0, self.clock, rate=2.0)
        refresher.startService()

        def stats() -> int:
            return len([r for r in self.requests if r.endswith("stats")])

        self.assertEqual(stats(), 1)
        self.clock.pump([0.5])
        self.assertEqual(stats(), 2)
        self.clock.pump([0.5] * 3)  # 2 s: an interval, but the refresh goes on
        self.assertEqual(stats(), 5)
        self.clock.pump([0.5] * 3)  # the refresh ends at 3.5 s
        self.assertEqual(stats(), 8)
        self.clock.pump([0.5])  # and the next begins at 4 s
        self.assertEqual(stats(), 9)
        refresher.stopService()
        self.clock.pump([0.5] * 10)
        self.assertEqual(stats(), 9)

    def test_dead_lettered_counter_exists_while_a_paced_refresh_runs(self) -> None:
        """The dead-letter counter reads 0 from the first scrape, before a long, paced refresh ends."""
        self.sub.subscribe("orders", lambda m: None, dead_letter_queue="orders-dead", max_claim_count=3)
        for i in range(8):
            self.sub.subscribe(f"q{i}", lambda m: None)
        refresher = self.metrics.refresher(2.0, self.clock, rate=1.0)
        refresher.startService()
        self.addCleanup(refresher.stopService)
        self.assertEqual(self.value("txzaqar_queue_dead_lettered_messages_total", queue="orders",
                                    dead_letter_queue="orders-dead"), 0)

    def test_dead_lettered(self) -> None:
        """A message moved to the dead-letter queue is counted (and logged) at the next refresh."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]

        def fails(message: Any) -> None:
            raise ValueError("poison")

        self.sub.subscribe("orders", fails, dead_letter_queue="orders-dead", max_claim_count=1)
        self.sub.startService()
        refresher = self.metrics.refresher(5.0, self.clock)
        refresher.startService()
        self.addCleanup(refresher.stopService)
        post(self.client, "orders", 1, self)
        for _ in range(10):
            self.clock.advance(1)
        self.flushLoggedErrors(ValueError)
        self.assertEqual(self.value("txzaqar_queue_dead_lettered_messages_total", queue="orders",
                                    dead_letter_queue="orders-dead"), 1)
        self.assertEqual(self.value("txzaqar_queue_messages", queue="orders-dead"), 1)
        lines = [e for e in events if "dead-letter queue" in e.get("log_format", "")]
        self.assertEqual(len(lines), 1)

    def test_capacity_and_poll_time(self) -> None:
        self.sub.subscribe("orders", lambda m: None)
        self.assertIsNone(self.value("txzaqar_subscriber_last_successful_poll_timestamp_seconds",
                                     queue="orders"))
        self.clock.advance(100)
        self.sub.startService()
        self.assertEqual(self.value("txzaqar_subscriber_concurrency"), 7)
        self.assertEqual(self.value("txzaqar_subscriber_threads"), 0)
        self.assertEqual(self.value("txzaqar_subscriber_in_flight"), 0)
        self.assertEqual(self.value("txzaqar_subscriber_last_successful_poll_timestamp_seconds",
                                    queue="orders"), 100)
        self.assertEqual(self.value("txzaqar_subscriber_push_configured", queue="orders"), 0)
        from txzaqar import __version__
        self.assertEqual(self.value("txzaqar_build_info", version=__version__), 1)
        self.assertIsNotNone(self.value("python_info", implementation="CPython", major="3",
                                        minor=__import__("sys").version_info[1].__str__(),
                                        patchlevel=__import__("platform").python_version_tuple()[2],
                                        version=__import__("platform").python_version()))

    def test_exposition(self) -> None:
        """No C{_created} series; every family has a help text of its own."""
        self.sub.subscribe("orders", lambda m: None)
        self.sub.startService()
        post(self.client, "orders", 1, self)
        self.clock.advance(2)
        text = generate_latest(self.metrics.exposition()).decode()
        self.assertIn("txzaqar_subscriber_callback_duration_seconds_count", text)
        self.assertNotIn("_created", text)
        families = list(text_string_to_metric_families(text))
        helps = [f.documentation for f in families if f.name.startswith("txzaqar_")]
        self.assertEqual(len(helps), len(set(helps)))
        self.assertEqual(set(STATS) - set(__import__("txzaqar.ops.metrics").ops.metrics.COUNTER_HELP), set())


class MonitoringFilesTests(SynchronousTestCase):
    """The README's command that finds the shipped alerts and dashboard, run as printed."""

    def test_readme_command_finds_them(self) -> None:
        section = readme.section_text("Metrics and health")
        (command,) = re.findall(r'``(python -c "import txzaqar\.ops.*?")``', section)
        code = command.split(" -c ", 1)[1].strip('"')
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        folder = Path(done.stdout.strip())
        self.assertEqual(sorted(p.name for p in folder.iterdir() if not p.name.startswith("_")),
                         ["alerts.yml", "dashboard.json"])
