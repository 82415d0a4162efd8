"""
Tests for L{txzaqar._listener}: the daemon's startup check, its systemd
notifications, and L{txzaqar._stdlib_logging}.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import attr
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar._listener import STATUS_INTERVAL, ListenerService
from txzaqar._stdlib_logging import route_all_stdlib_logging, route_stdlib_logging


@attr.s(auto_attribs=True)
class Health:
    ready: bool
    reasons: tuple[str, ...] = ()


class FakeSubscriber:
    def __init__(self) -> None:
        self.running = False
        self.ready = True
        self.reasons: tuple[str, ...] = ()

    def startService(self) -> None:
        self.running = True

    def stopService(self) -> Deferred[None]:
        self.running = False
        return succeed(None)

    def health(self) -> Health:
        return Health(self.ready, self.reasons)


class FakeQueue:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def stats(self) -> Deferred[Any]:
        if isinstance(self.answer, Exception):
            return fail(self.answer)
        return succeed(self.answer)


class FakeClient:
    def __init__(self, answer: Any = None) -> None:
        self.asked: list[str] = []
        self.answer = answer

    def queue(self, name: str) -> FakeQueue:
        self.asked.append(name)
        return FakeQueue(self.answer)


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
        self.assertEqual(self.client.asked, ["jobs"])
        self.assertTrue(self.subscriber.running)
        self.assertEqual(self.exits, [])
        self.successResultOf(service.stopService())
        self.assertFalse(self.subscriber.running)

    def test_push_that_cannot_start_ends_the_process(self) -> None:
        """The operator asked for push (e.g. a webhook port in use): exit 1, one critical line."""
        self.subscriber.push_start_error = OSError("Couldn't listen on 127.0.0.1:8090: in use")  # type: ignore[attr-defined]
        service = self.service()
        service.startService()
        self.assertEqual(self.exits, [1])
        self.assertEqual(service.exit_status, 1)
        critical = [e for e in self.events if e["log_level"] == LogLevel.critical]
        self.assertEqual(len(critical), 1)
        self.assertIn("in use", formatEvent(critical[0]))

    def test_metrics_that_cannot_listen_end_the_process(self) -> None:
        """A child that could not listen (--metrics on a port in use): exit 1, one critical line, no Subscriber."""
        from twisted.application.service import Service

        metrics = Service()
        metrics.listen_error = OSError("Couldn't listen on 127.0.0.1:9102: in use")  # type: ignore[attr-defined]
        service = self.service()
        metrics.setServiceParent(service)
        service.startService()
        self.assertEqual(self.exits, [1])
        self.assertEqual(service.exit_status, 1)
        self.assertFalse(self.subscriber.running)
        self.assertEqual(self.client.asked, [])
        critical = [e for e in self.events if e["log_level"] == LogLevel.critical]
        self.assertEqual(len(critical), 1)
        self.assertIn("metrics endpoint could not listen", formatEvent(critical[0]))
        self.assertIn("in use", formatEvent(critical[0]))

    def test_refused_credentials_end_the_process(self) -> None:
        for error in (
            errors.AuthenticationFailed(title="The request you have made requires authentication."),
            errors.error_from_response(401, b'{"title": "Unauthorized"}', {}),
            errors.error_from_response(403, b'{"title": "Forbidden"}', {}),
        ):
            self.exits.clear()
            seen = len(self.events)
            service = self.service(error)
            service.startService()
            self.assertEqual(self.exits, [1], error)
            self.assertEqual(service.exit_status, 1)
            self.assertFalse(self.subscriber.running)
            [event] = [e for e in list(self.events)[seen:] if e["log_level"] >= LogLevel.warn]
            self.assertEqual(event["log_level"], LogLevel.critical)
            self.assertIn(type(error).__name__, event["error"])
            self.assertTrue(event["advice"])

    def test_unreachable_server_starts_anyway(self) -> None:
        for error in (
            errors.ConnectionFailed(title="Connection refused"),
            errors.RequestTimedOut(title="timed out"),
            errors.error_from_response(503, b"", {}),
            errors.IdentityUnavailable(title="Identity service unreachable"),
        ):
            self.subscriber.running = False
            service = self.service(error)
            service.startService()
            self.assertEqual(self.exits, [])
            self.assertTrue(self.subscriber.running, error)
            self.assertFalse(errors.refused(error))

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

    def test_unexpected_error_at_start_ends_the_process(self) -> None:
        """A start-up check that fails with no ZaqarError is one critical line and exit 1, not a hang."""
        service = self.service(RuntimeError("surprise"))
        service.startService()
        self.assertEqual(self.exits, [1])
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
        self.client.answer = None
        self.client.queue = lambda name: type("Q", (), {"stats": lambda self: pending})()  # type: ignore[method-assign]
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
