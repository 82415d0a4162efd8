"""
Tests for L{txzaqar.daemon._signals}: which handlers are installed, that
they act on the reactor, and the line each signal logs.  (The installed
daemon receiving real signals is C{test_daemon_operations.SignalTests}.)
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import attr
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon._signals import DAEMON_SIGNALS, install_signal_handlers, state_line


@attr.s(auto_attribs=True)
class Health:
    ready: bool
    reasons: tuple[str, ...] = ()


class FakeSubscriber:
    channels = frozenset({"orders", "refunds"})

    def __init__(self, ready: bool = True, reasons: tuple[str, ...] = ()) -> None:
        self._health = Health(ready, reasons)

    def health(self) -> Health:
        return self._health

    def callbacks_in_flight(self) -> dict[str, int]:
        return {"orders": 2, "refunds": 1}


class QueuedReactor:
    """Records what is handed to it from a signal handler; runs it when told."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple[Any, ...]]] = []

    def callFromThread(self, f: Any, *args: Any) -> None:
        self.calls.append((f, args))

    def run(self) -> None:
        calls, self.calls = self.calls, []
        for f, args in calls:
            f(*args)


class SignalHandlerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)  # type: ignore[arg-type]
        self.installed: dict[int, Any] = {}
        self.previous: dict[int, Any] = {}
        self.reactor = QueuedReactor()

    def install(self, subscriber: Any = None) -> list[str]:
        return install_signal_handlers(
            self.reactor, subscriber or FakeSubscriber(),  # type: ignore[arg-type]
            install=self.installed.__setitem__, current=lambda n: self.previous.get(n, signal.SIG_DFL))

    def lines(self) -> list[str]:
        return [formatEvent(e) for e in self.events]

    def test_handles_hup_usr1_usr2(self) -> None:
        self.assertEqual(self.install(), list(DAEMON_SIGNALS))
        self.assertEqual(set(self.installed), {signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2})

    def test_handler_only_queues_work_for_the_reactor(self) -> None:
        """The handler itself does nothing but hand over to the reactor thread."""
        self.install()
        self.installed[signal.SIGHUP](signal.SIGHUP, None)
        self.assertEqual(self.lines(), [])
        self.assertEqual(len(self.reactor.calls), 1)
        self.reactor.run()
        self.assertEqual(len(self.lines()), 1)

    def test_sighup_is_logged_and_ignored(self) -> None:
        self.install()
        self.installed[signal.SIGHUP](signal.SIGHUP, None)
        self.reactor.run()
        [line] = self.lines()
        self.assertTrue(line.startswith("SIGHUP: nothing to reload"), line)
        self.assertIn("still running", line)

    def test_sigusr1_calls_twistds_rotation(self) -> None:
        """twistd's own SIGUSR1 handler (log rotation with --logfile) is kept and called."""
        rotated: list[int] = []
        self.previous[signal.SIGUSR1] = lambda number, frame: rotated.append(number)
        self.install()
        self.installed[signal.SIGUSR1](signal.SIGUSR1, None)
        self.reactor.run()
        self.assertEqual(rotated, [signal.SIGUSR1])
        self.assertEqual(self.lines(), ["SIGUSR1: the log file was rotated; still running"])

    def test_sigusr1_without_a_log_file(self) -> None:
        self.install()
        self.installed[signal.SIGUSR1](signal.SIGUSR1, None)
        self.reactor.run()
        self.assertEqual(self.lines(),
                         ["SIGUSR1: no log file to rotate (logging to standard output); still running"])

    def test_sigusr2_logs_the_state(self) -> None:
        self.install(FakeSubscriber(False, ("orders: no successful poll yet",)))
        self.installed[signal.SIGUSR2](signal.SIGUSR2, None)
        self.reactor.run()
        self.assertEqual(self.lines(), [
            "SIGUSR2: 2 queue(s) (orders, refunds), 3 callback(s) in flight, not ready: "
            "orders: no successful poll yet"])

    def test_state_line_when_ready(self) -> None:
        self.assertEqual(state_line(FakeSubscriber()),  # type: ignore[arg-type]
                         "2 queue(s) (orders, refunds), 3 callback(s) in flight, ready")

    def test_not_from_another_thread(self) -> None:
        """signal.signal works only on the main thread: elsewhere nothing is installed."""
        got: list[list[str]] = []
        thread = threading.Thread(target=lambda: got.append(
            install_signal_handlers(self.reactor, FakeSubscriber())))  # type: ignore[arg-type]
        thread.start()
        thread.join(30)
        self.assertEqual(got, [[]])
