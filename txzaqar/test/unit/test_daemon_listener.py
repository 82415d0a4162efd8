"""
Tests for L{txzaqar.daemon._listener}: the daemon's startup check, its systemd
notifications, and L{txzaqar.daemon._stdlib_logging}.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.daemon._listener import STATUS_INTERVAL, ListenerService
from txzaqar.daemon._startup import ExitStatus
from txzaqar.daemon._stdlib_logging import route_all_stdlib_logging, route_stdlib_logging
from txzaqar.test.helpers.listener import FakeClient, FakeListing, FakeSubscriber


class ListenerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        self.exits: list[int] = []
        self.subscriber = FakeSubscriber()

    def receiver(self) -> tuple[socket.socket, str]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        path = self.mktemp() + ".sock"
        sock.bind(path)
        sock.setblocking(False)
        return sock, path

    def received(self, sock: socket.socket) -> list[bytes]:
        got = []
        while True:
            try:
                got.append(sock.recv(4096))
            except BlockingIOError:
                return got

    def service(self, answer: Any = None, environ: dict[str, str] | None = None) -> ListenerService:
        self.client = FakeClient(answer)
        return ListenerService(
            self.subscriber, self.client, ["jobs", "more"], self.clock,  # type: ignore[arg-type]
            exit=self.exits.append, environ=environ or {},
        )

    def test_check_then_start(self) -> None:
        service = self.service()
        service.startService()
        self.assertEqual(self.client.asked, ["ping", "queues"])
        self.assertTrue(self.subscriber.running)
        self.assertEqual(self.exits, [])
        self.assertEqual([e for e in self.events if e["log_level"] >= LogLevel.warn], [])
        self.successResultOf(service.stopService())
        self.assertFalse(self.subscriber.running)

    def test_missing_queue_is_one_warning(self) -> None:
        """A --queue that does not exist (a typo?): one warning naming it, and the daemon starts."""
        self.client = FakeClient(existing=("jobs", "other"))
        service = ListenerService(self.subscriber, self.client, ["jobs", "mroe"], self.clock,  # type: ignore[arg-type]
                                  exit=self.exits.append, environ={})
        service.startService()
        self.assertTrue(self.subscriber.running)
        [warning] = [formatEvent(e) for e in self.events if e["log_level"] >= LogLevel.warn]
        self.assertEqual(warning, "queue mroe does not exist (yet): Zaqar creates it when a message is "
                                  "posted to it; check --queue for a typo")

    def test_listing_stops_once_every_queue_is_found(self) -> None:
        """The listing is read only until every --queue was seen (a project may hold thousands)."""
        self.client = FakeClient(existing=("jobs", "more", "other"))
        listing = FakeListing(["jobs", "more", "other"], None)
        self.client.iter_queues = lambda limit=10: listing  # type: ignore[method-assign]
        service = ListenerService(self.subscriber, self.client, ["more", "jobs"], self.clock,  # type: ignore[arg-type]
                                  exit=self.exits.append, environ={})
        service.startService()
        self.assertTrue(self.subscriber.running)
        self.assertEqual(listing._names, ["other"])  # never read
        self.assertEqual([e for e in self.events if e["log_level"] >= LogLevel.warn], [])

    def test_listing_refused_is_no_failure(self) -> None:
        """A user who may not list queues (403) still starts; the queues are not checked."""
        self.client = FakeClient(listing_error=errors.error_from_response(403, b"", {}))
        service = ListenerService(self.subscriber, self.client, ["jobs"], self.clock,  # type: ignore[arg-type]
                                  exit=self.exits.append, environ={})
        service.startService()
        self.assertTrue(self.subscriber.running)
        self.assertEqual([e for e in self.events if e["log_level"] >= LogLevel.warn], [])

    def test_push_that_cannot_start_ends_the_process(self) -> None:
        """The operator asked for push (e.g. a webhook port in use): exit 71, one critical line."""
        self.subscriber.push_start_error = OSError("Couldn't listen on 127.0.0.1:8090: in use")  # type: ignore[attr-defined]
        service = self.service()
        service.startService()
        self.assertEqual(self.exits, [ExitStatus.CANNOT_LISTEN])
        self.assertEqual(service.exit_status, 71)
        critical = [e for e in self.events if e["log_level"] == LogLevel.critical]
        self.assertEqual(len(critical), 1)
        self.assertIn("in use", formatEvent(critical[0]))

    def test_metrics_that_cannot_listen_end_the_process(self) -> None:
        """A child that could not listen (--metrics on a port in use): exit 71, one critical line, no Subscriber."""
        from twisted.application.service import Service

        metrics = Service()
        metrics.listen_error = OSError("Couldn't listen on 127.0.0.1:9102: in use")  # type: ignore[attr-defined]
        service = self.service()
        metrics.setServiceParent(service)
        service.startService()
        self.assertEqual(self.exits, [71])
        self.assertEqual(service.exit_status, 71)
        self.assertFalse(self.subscriber.running)
        self.assertEqual(self.client.asked, [])
        critical = [e for e in self.events if e["log_level"] == LogLevel.critical]
        self.assertEqual(len(critical), 1)
        self.assertIn("metrics endpoint could not listen", formatEvent(critical[0]))
        self.assertIn("in use", formatEvent(critical[0]))

    def test_permanent_mistakes_end_the_process(self) -> None:
        """
        Refused credentials (77), no Zaqar API at the URL, no catalog endpoint,
        a certificate Keystone's TLS refused (78): one critical line naming
        what to fix, no Subscriber.
        """
        for error, status, advice in (
            (errors.AuthenticationFailed(title="The request you have made requires authentication."), 77,
             "Keystone refused them"),
            (errors.error_from_response(401, b'{"title": "Unauthorized"}', {}), 77, "Zaqar refused the token"),
            (errors.error_from_response(403, b'{"title": "Forbidden"}', {}), 77, "check its roles"),
            (errors.error_from_response(404, b"", {}), 78, "check --url"),
            (errors.MalformedResponse("Response is not JSON", "<html>"), 78, "check --url"),
            (errors.EndpointNotFound("No Zaqar endpoint", "the service catalog has no matching endpoint"),
             78, "--os-region-name"),
            (errors.IdentityCertificateRefused("TLS failure talking to Keystone", "certificate verify failed"),
             78, "--cacert"),
        ):
            self.exits.clear()
            self.subscriber.running = False
            seen = len(self.events)
            service = self.service(error)
            service.startService()
            self.assertEqual(self.exits, [status], error)
            self.assertEqual(service.exit_status, status)
            self.assertFalse(self.subscriber.running)
            [event] = [e for e in list(self.events)[seen:] if e["log_level"] >= LogLevel.warn]
            self.assertEqual(event["log_level"], LogLevel.critical)
            line = formatEvent(event)
            self.assertTrue(line.startswith("cannot start: "), line)
            self.assertIn(type(error).__name__, line)
            self.assertIn(advice, line)

    def test_unreachable_server_starts_anyway(self) -> None:
        for error in (
            errors.ConnectionFailed(title="Connection refused"),
            errors.RequestTimedOut(title="timed out"),
            errors.error_from_response(503, b"", {}),
            errors.IdentityUnavailable(title="Identity service unreachable"),
            errors.ConnectionFailed("Connection failed", "DNS lookup failed: zaqar.invalid"),
        ):
            self.subscriber.running = False
            seen = len(self.events)
            service = self.service(error)
            service.startService()
            self.assertEqual(self.exits, [])
            self.assertTrue(self.subscriber.running, error)
            self.assertFalse(errors.refused(error))
            [warning] = [formatEvent(e) for e in list(self.events)[seen:] if e["log_level"] >= LogLevel.warn]
            self.assertTrue(warning.startswith("Zaqar is not reachable yet at http://zaqar.test:8888 ("), warning)
            self.assertIn(type(error).__name__, warning)

    def test_systemd_notifications(self) -> None:
        """
        The watchdog is fed while the service runs, ready or not (liveness
        is not readiness); STATUS= follows readiness, sent when it changes.
        """
        sock, path = self.receiver()
        service = self.service(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"})
        service.startService()
        self.assertEqual(self.received(sock), [
            b"WATCHDOG=1", b"STATUS=starting: checking Zaqar for 2 queue(s)",
            b"READY=1\nSTATUS=listening to 2 queue(s)",
        ])
        self.clock.advance(5)
        self.assertEqual(self.received(sock), [b"WATCHDOG=1"])
        self.subscriber.ready = False  # an outage: still alive, not ready
        self.subscriber.reasons = ("orders: no successful poll for 75s (expected within 70s) "
                                   "(last error: ConnectionFailed)",)
        for _ in range(30):  # longer than any WatchdogSec: fed all along
            self.clock.advance(5)
            self.assertIn(b"WATCHDOG=1", self.received(sock))
        self.subscriber.reasons = ("orders: no successful poll for 80s (expected within 70s) "
                                   "(last error: ConnectionFailed)",)
        self.clock.advance(5)
        self.assertEqual(self.received(sock), [
            b"WATCHDOG=1", b"STATUS=2 queue(s), not ready: orders: no successful poll for 80s "
            b"(expected within 70s) (last error: ConnectionFailed)"])
        self.subscriber.ready = True
        self.subscriber.reasons = ()
        self.clock.advance(5)
        self.assertEqual(self.received(sock), [b"WATCHDOG=1", b"STATUS=listening to 2 queue(s)"])
        self.successResultOf(service.stopService())
        self.assertEqual(self.received(sock), [b"STOPPING=1"])
        self.clock.advance(20)
        self.assertEqual(self.received(sock), [])

    def test_status_without_watchdog(self) -> None:
        """With a notify socket and no watchdog, STATUS= is updated every STATUS_INTERVAL; no WATCHDOG=1."""
        sock, path = self.receiver()
        service = self.service(environ={"NOTIFY_SOCKET": path})
        service.startService()
        self.assertEqual(self.received(sock), [
            b"STATUS=starting: checking Zaqar for 2 queue(s)", b"READY=1\nSTATUS=listening to 2 queue(s)"])
        self.subscriber.ready = False
        self.subscriber.reasons = ("authentication failed: IdentityUnavailable",)
        self.clock.advance(STATUS_INTERVAL)
        self.assertEqual(self.received(sock), [
            b"STATUS=2 queue(s), not ready: authentication failed: IdentityUnavailable"])
        self.clock.advance(STATUS_INTERVAL)
        self.assertEqual(self.received(sock), [])
        self.successResultOf(service.stopService())

    def test_status_with_many_queues(self) -> None:
        """
        STATUS= counts every queue, the discovered ones too, and names three
        reasons at most (it is one datagram): the others are counted.
        """
        names = [f"q-{i:05d}" for i in range(10_000)]
        self.subscriber = FakeSubscriber(("jobs", *names), {name: "q-*" for name in names})
        service = self.service()
        service.startService()
        self.assertEqual(service.status(), "listening to 10,001 queue(s), 10,000 of them discovered")
        self.subscriber.ready = False
        self.subscriber.reasons = tuple(f"{name}: no successful poll yet" for name in names)
        self.assertEqual(service.status(), "10,001 queue(s), 10,000 of them discovered, not ready: "
                                           "q-00000: no successful poll yet; q-00001: no successful poll yet; "
                                           "q-00002: no successful poll yet; and 9,997 more")
        self.successResultOf(service.stopService())

    def test_unexpected_error_at_start_ends_the_process(self) -> None:
        """A start-up check that fails with no ZaqarError is one critical line and exit 70, not a hang."""
        service = self.service(RuntimeError("surprise"))
        service.startService()
        self.assertEqual(self.exits, [ExitStatus.SOFTWARE])
        self.assertFalse(self.subscriber.running)
        [line] = [formatEvent(e) for e in self.events if e["log_level"] == LogLevel.critical]
        self.assertEqual(line, "cannot start: unexpected error: RuntimeError: surprise")

    def test_no_ready_when_refused(self) -> None:
        sock, path = self.receiver()
        service = self.service(errors.AuthenticationFailed(title="no"), environ={"NOTIFY_SOCKET": path})
        service.startService()
        self.assertEqual(self.received(sock), [b"STATUS=starting: checking Zaqar for 2 queue(s)"])

    def test_stop_during_check(self) -> None:
        service = self.service()
        pending: Deferred[Any] = Deferred()
        self.client.answer = pending
        service.startService()
        self.assertFalse(self.subscriber.running)
        self.successResultOf(service.stopService())
        self.assertFalse(self.subscriber.running)
        self.assertEqual(self.flushLoggedErrors(), [])


class StdlibLoggingTests(SynchronousTestCase):
    def test_records_become_events(self) -> None:
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        handler = route_stdlib_logging("txzaqar-test-lib")
        self.addCleanup(logging.getLogger("txzaqar-test-lib").removeHandler, handler)
        self.assertIs(route_stdlib_logging("txzaqar-test-lib"), handler)
        logging.getLogger("txzaqar-test-lib.session").warning("REQ %s", "GET /v3")
        logging.getLogger("txzaqar-test-lib.session").debug("detail")
        got = [(e["log_namespace"], e["log_level"], e["log_text"]) for e in events]
        self.assertEqual(got, [
            ("txzaqar-test-lib.session", LogLevel.warn, "REQ GET /v3"),
            ("txzaqar-test-lib.session", LogLevel.debug, "detail"),
        ])
        self.assertFalse(logging.getLogger("txzaqar-test-lib").propagate)


class AllStdlibLoggingTests(SynchronousTestCase):
    def setUp(self) -> None:
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)

        def restore() -> None:
            root.setLevel(level)
            root.handlers[:] = handlers

        self.addCleanup(restore)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]

    def test_every_logger_by_name_and_level(self) -> None:
        """Any library's or handler's records, keystoneauth's included, under their names."""
        handler = route_all_stdlib_logging(LogLevel.info)
        self.assertIs(route_all_stdlib_logging(LogLevel.info), handler)
        logging.getLogger("keystoneauth.session").info("REQ %s", "GET /v3")
        logging.getLogger("app").debug("not made at info")
        logging.getLogger("app").warning("careful")
        got = [(e["log_namespace"], e["log_level"], e["log_text"]) for e in self.events]
        self.assertEqual(got, [("keystoneauth.session", LogLevel.info, "REQ GET /v3"),
                               ("app", LogLevel.warn, "careful")])

    def test_level_follows_log_level(self) -> None:
        route_all_stdlib_logging(LogLevel.error)
        logging.getLogger("app").warning("filtered")
        logging.getLogger("app").error("kept")
        self.assertEqual([e["log_text"] for e in self.events], ["kept"])

    def test_exception_becomes_the_failure(self) -> None:
        route_all_stdlib_logging(LogLevel.info)
        try:
            raise KeyError("order")
        except KeyError:
            logging.getLogger("app").exception("failed")
        [event] = self.events
        self.assertTrue(event["log_failure"].check(KeyError))
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
