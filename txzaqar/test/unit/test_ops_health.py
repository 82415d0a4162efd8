"""
Tests for L{Subscriber.health} (the rule of L{txzaqar.subscriber.readiness}),
L{txzaqar.ops.health} (C{/metrics}, C{/healthz}, C{/readyz}, through treq's
C{StubTreq}) and C{twistd zaqar-listen --metrics}.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.application.service import IServiceCollection
from twisted.internet.defer import Deferred
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon import _service as _tap
from txzaqar.ops.health import HealthService, check_endpoint, health_resource, health_site, metrics_service
from txzaqar.subscriber import Subscriber
from txzaqar.test.helpers.options import parse
from txzaqar.testing import memory_subscriber


def get(stub: Any, path: str, **kw: Any) -> tuple[int, dict[str, str], str]:
    response = stub.get(f"http://ops.invalid{path}", **kw)
    stub.flush()
    resp: Any = SynchronousTestCase().successResultOf(response)
    body: Any = SynchronousTestCase().successResultOf(stub.content(resp))
    headers = {k.decode().lower(): v[-1].decode() for k, v in resp.headers.getAllRawHeaders()}
    return resp.code, headers, body.decode("utf-8")


def steady(text: bytes) -> list[bytes]:
    """The lines of an exposition but the process and GC collectors' (they change between two)."""
    return [line for line in text.splitlines() if b"process_" not in line and b"python_gc_" not in line]


class HealthResourceTests(SynchronousTestCase):
    """The pages, through treq's in-memory agent."""

    def setUp(self) -> None:
        self.sub, self.client, self.fake = memory_subscriber(poll_interval=1.0)
        self.seen: list[Any] = []
        self.sub.subscribe("orders", self.seen.append)
        self.stub = StubTreq(health_resource(self.sub))

    def tearDown(self) -> None:
        if self.sub.running:
            self.successResultOf(self.sub.stopService())

    def test_healthz(self) -> None:
        self.assertEqual(get(self.stub, "/healthz")[::2], (200, "ok\n"))

    def test_readyz_with_many_queues(self) -> None:
        """Not ready on many queues: the first 50 reasons, then how many more."""
        from txzaqar.ops.health import READYZ_REASONS
        from txzaqar.subscriber.readiness import Health

        reasons = tuple(f"queue-{i:03d}: no successful poll for 80s (expected within 70s)" for i in range(121))
        self.patch(self.sub, "health", lambda: Health(False, reasons))
        code, _, body = get(self.stub, "/readyz")
        lines = body.splitlines()
        self.assertEqual((code, len(lines)), (503, READYZ_REASONS + 1))
        self.assertEqual(lines[-1], "and 71 more")

    def test_readyz(self) -> None:
        """503 with one reason per line while not ready; 200 once ready."""
        code, headers, body = get(self.stub, "/readyz")
        self.assertEqual((code, body), (503, "the subscriber is not running\n"))
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        self.sub.startService()
        self.assertEqual(get(self.stub, "/readyz")[::2], (200, "ready\n"))

    def test_head_probes(self) -> None:
        """
        HEAD /healthz and /readyz: the GET's status and length, no body, and
        no log event (Twisted's default HEAD logs a warning on every probe).
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        stub: Any = self.stub  # StubTreq's methods are made at run time
        for path, status, length in (("/healthz", 200, "3"), ("/readyz", 503, "30")):
            response: Any = self.successResultOf(stub.head(f"http://ops.invalid{path}"))
            stub.flush()
            body: Any = self.successResultOf(stub.content(response))
            self.assertEqual((response.code, body), (status, b""), path)
            self.assertEqual(response.headers.getRawHeaders(b"content-length"), [length.encode()], path)
        self.assertEqual([formatEvent(e) for e in events], [])

    def test_metrics(self) -> None:
        """C{/metrics} is the subscriber's registry, in the text format prometheus-client parses."""
        self.sub.startService()
        self.successResultOf(self.client.queue("orders").post([{"body": 1}, {"body": 2}]))
        self.fake.clock.advance(2)
        self.assertEqual(len(self.seen), 2)
        code, headers, body = get(self.stub, "/metrics")
        self.assertEqual(code, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        samples = {(s.name, s.labels.get("queue")): s.value
                   for family in text_string_to_metric_families(body) for s in family.samples}
        self.assertEqual(samples[("txzaqar_subscriber_processed_total", "orders")], 2)
        self.assertEqual(samples[("txzaqar_subscriber_acked_total", "orders")], 2)
        self.assertEqual(samples[("txzaqar_subscriber_ready", None)], 1)

    def test_openmetrics(self) -> None:
        """A scraper asking for OpenMetrics gets it."""
        code, headers, body = get(self.stub, "/metrics",
                                  headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        self.assertEqual(code, 200)
        self.assertTrue(headers["content-type"].startswith("application/openmetrics-text"))
        self.assertTrue(body.endswith("# EOF\n"))

    def test_formatted_elsewhere(self) -> None:
        """
        With C{run_in_thread}, C{/metrics} is collected now and formatted
        by it; the answer comes when its Deferred fires.
        """
        calls: list[tuple[Any, Any]] = []
        results: list[Deferred[Any]] = []

        def run_in_thread(f: Any, snapshot: Any) -> Deferred[Any]:
            calls.append((f, snapshot))
            d: Deferred[Any] = Deferred()
            results.append(d)
            return d

        stub: Any = StubTreq(health_resource(self.sub, run_in_thread=run_in_thread))
        response = stub.get("http://ops.invalid/metrics")
        stub.flush()
        self.assertNoResult(response)
        [(f, snapshot)] = calls
        self.sub.startService()  # changes after the snapshot are not in it
        results[0].callback(f(snapshot))
        stub.flush()
        body = self.successResultOf(stub.content(self.successResultOf(response))).decode()
        self.assertIn("txzaqar_subscriber_ready 0.0", body)

    def streamed(self, headers: dict[str, str] | None = None, chunk: int | None = None) -> tuple[Any, list[bytes]]:
        """
        C{/metrics} sent as formatted: C{run_in_thread} runs at once and
        C{call_from_thread} notes each chunk before passing it on.
        """
        from twisted.internet.defer import maybeDeferred

        from txzaqar.ops import health

        if chunk is not None:
            self.patch(health, "CHUNK", chunk)
        chunks: list[bytes] = []

        def call_from_thread(f: Any, data: bytes) -> None:
            chunks.append(data)
            f(data)

        for i in range(30):
            self.sub.subscribe(f"queue-{i}", self.seen.append)
        stub: Any = StubTreq(health_resource(self.sub, run_in_thread=lambda f, *a: maybeDeferred(f, *a),
                                             call_from_thread=call_from_thread))
        response = self.successResultOf(stub.get("http://ops.invalid/metrics", headers=headers or {}))
        return response, chunks

    def test_sent_as_formatted(self) -> None:
        """
        With C{call_from_thread}, the answer goes out in chunks as it is
        formatted (gzipped here: treq asks for it): the same text as
        formatted whole.
        """
        whole = get(self.stub, "/metrics")[2]
        response, chunks = self.streamed(chunk=4096)
        self.assertEqual(chunks[0][:2], b"\x1f\x8b")  # a gzip stream begins
        self.assertGreater(len(chunks), 1)
        body = self.successResultOf(response.text())
        self.assertEqual({f.name for f in text_string_to_metric_families(body)},
                         {f.name for f in text_string_to_metric_families(whole)})
        self.assertIn('txzaqar_subscriber_polls_total{queue="queue-29"} 0.0', body)

    def test_stream_chunks(self) -> None:
        """
        One family at a time, handed over in chunks of about CHUNK bytes:
        their text is the whole exposition's; gzipped, one gzip stream;
        OpenMetrics, one # EOF at the end.
        """
        import gzip

        from prometheus_client import generate_latest
        from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

        from txzaqar.ops import health

        for i in range(30):
            self.sub.subscribe(f"queue-{i}", self.seen.append)
        self.patch(health, "CHUNK", 4096)
        chunks: list[bytes] = []
        health._stream(generate_latest, self.sub.metrics.exposition(), chunks.append)
        self.assertGreater(len(chunks), 5)
        self.assertTrue(all(len(c) < 4096 * 3 for c in chunks), [len(c) for c in chunks])
        self.assertEqual(steady(b"".join(chunks)), steady(generate_latest(self.sub.metrics.exposition())))
        chunks.clear()
        health._stream(openmetrics, self.sub.metrics.exposition(), chunks.append, gzip=True, eof=True)
        text = gzip.decompress(b"".join(chunks))
        self.assertEqual(steady(text), steady(openmetrics(self.sub.metrics.exposition())))
        self.assertEqual(text.count(b"# EOF"), 1)

    def test_formatting_fails(self) -> None:
        """A formatting error is a 500 (and logged), not a hung request."""
        from twisted.internet.defer import fail

        stub: Any = StubTreq(health_resource(self.sub, run_in_thread=lambda f, s: fail(RuntimeError("x"))))
        response = stub.get("http://ops.invalid/metrics")
        stub.flush()
        self.assertEqual(self.successResultOf(response).code, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_not_found(self) -> None:
        self.assertEqual(get(self.stub, "/other")[0], 404)

    def test_given_registry(self) -> None:
        """A registry given is what C{/metrics} shows."""
        from prometheus_client import CollectorRegistry, Counter

        registry = CollectorRegistry()
        Counter("mine", "a counter of the user's", registry=registry).inc()
        stub = StubTreq(health_resource(self.sub, registry))
        self.assertIn("mine_total 1.0", get(stub, "/metrics")[2])

    def test_site_logs_no_request(self) -> None:
        site = health_site(self.sub)
        self.assertIsNone(site.log(object()))  # type: ignore[func-returns-value, arg-type]


class MetricsOptionTests(SynchronousTestCase):
    """C{--metrics ENDPOINT} of C{twistd zaqar-listen}."""

    def test_default_is_off(self) -> None:
        options = parse()
        self.assertIsNone(options["metrics"])
        service = _tap.makeService(options)
        self.assertIsInstance(service.subscriber, Subscriber)
        self.assertEqual(list(IServiceCollection(service)), [])

    def test_bad_endpoint(self) -> None:
        for bad in ("nonsense:1", "tcp:notaport", "tcp:9102:bogus=1"):
            with self.assertRaises(UsageError) as caught:
                parse("--metrics", bad)
            message = str(caught.exception)
            self.assertTrue(message.startswith("--metrics: "), message)
            self.assertIn(repr(bad), message)
            self.assertNotIn("\n", message)

    def test_check_endpoint(self) -> None:
        check_endpoint("tcp:9102:interface=127.0.0.1")
        check_endpoint("unix:/tmp/metrics.sock")
        self.assertRaises(ValueError, check_endpoint, "tcp:")

    def test_make_service(self) -> None:
        """
        With C{--metrics} the endpoint's site is a child of the daemon's
        service, started with it (before the startup check lets the
        Subscriber start).
        """
        options = parse("--metrics", "tcp:0:interface=127.0.0.1")
        self.assertEqual(options["metrics"], "tcp:0:interface=127.0.0.1")
        service = _tap.makeService(options)
        children = list(IServiceCollection(service))
        from txzaqar.ops.metrics import QueueStatsRefresher

        self.assertEqual([type(c) for c in children], [HealthService, QueueStatsRefresher])
        [ops, _] = children
        self.assertEqual(service.subscriber.channels, frozenset({"jobs"}))
        self.assertIsNone(ops.listen_error)
        self.assertFalse(service.running)

    def test_metrics_service_listens(self) -> None:
        """The service listens on the endpoint with the site, and stops listening when stopped."""
        from twisted.internet.testing import MemoryReactor

        reactor = MemoryReactor()
        sub, _, _ = memory_subscriber()
        service = metrics_service(reactor, "tcp:9102:interface=127.0.0.1", sub)
        service.startService()
        self.assertEqual(len(reactor.tcpServers), 1)
        port, factory, _, interface = reactor.tcpServers[0]
        self.assertEqual((port, interface), (9102, "127.0.0.1"))
        self.assertTrue(service.pool.started)
        stopped: Deferred[None] = service.stopService()
        self.successResultOf(stopped)
        self.assertFalse(service.pool.started)
        self.assertIsNone(service.listen_error)

    def test_metrics_port_in_use(self) -> None:
        """
        An endpoint that cannot be listened on: the error is kept in
        C{listen_error} and logged once (error level); stopping still works.
        """
        from twisted.internet.error import CannotListenError
        from twisted.internet.testing import EventLoggingObserver, MemoryReactor
        from twisted.logger import LogLevel, formatEvent, globalLogPublisher

        class InUse(MemoryReactor):
            def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
                raise CannotListenError(interface, port, OSError(98, "Address already in use"))

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        sub, _, _ = memory_subscriber()
        service = metrics_service(InUse(), "tcp:9102:interface=127.0.0.1", sub)
        service.startService()
        self.assertIsInstance(service.listen_error, CannotListenError)
        errors_logged = [formatEvent(e) for e in events if e["log_level"] == LogLevel.error]
        self.assertEqual(len(errors_logged), 1, errors_logged)
        self.assertIn("tcp:9102:interface=127.0.0.1", errors_logged[0])
        self.assertIn("Address already in use", errors_logged[0])
        self.successResultOf(service.stopService())
        self.assertFalse(service.pool.started)
