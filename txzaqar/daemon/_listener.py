"""
The daemon's top service: it runs the start-up checks once
(L{txzaqar.daemon._startup}), then starts the L{Subscriber}, and tells systemd
(C{sd_notify}) when it is ready, alive and stopping, and how it is doing
(C{STATUS=}).

A permanent mistake (refused credentials, no Zaqar API at the URL, a
certificate that does not verify, no catalog endpoint) ends the process
with one line naming the option to fix and an L{ExitStatus}: no backoff
will fix it.  An unreachable server (connection refused, a DNS failure,
timeouts, 5xx, Keystone down) does not: the Subscriber starts, backs off
and recovers when the server returns.

Liveness is not readiness: C{WATCHDOG=1} is sent while the reactor runs
this service, whatever Zaqar or Keystone do, so that an outage longer than
C{WatchdogSec} is ridden out (and shown in C{STATUS=} and C{/readyz})
rather than turned into a restart loop; a hung reactor stops the pings.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ..interfaces import IClient, ISubscriber
from ..ops.sdnotify import Notifier, watchdog_interval
from ._lifecycle import Handlers, HandlerSetupFailed
from ._signals import install_signal_handlers
from ._startup import ExitStatus, startup_findings

__all__ = ["CheckService", "ListenerService", "stop_with_status"]

log = Logger(namespace="txzaqar.listen")

#: The most reasons of not being ready C{STATUS=} names (the others are counted).
STATUS_REASONS = 3

#: Seconds between C{STATUS=} updates when there is no watchdog to time them.
STATUS_INTERVAL = 15.0


def stop_with_status(reactor: Any, status: int) -> None:
    """
    Stop the reactor, and have the process exit with C{status} once twistd
    (or twist) has finished its own shutdown: neither runner has a way to
    set a non-zero exit status, so the last exit handler sets it.
    """

    def leave() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)

    atexit.register(leave)
    # twistd starts the services before the reactor runs, when stop() would
    # raise ReactorNotRunning; once it runs, callWhenRunning calls at once.
    reactor.callWhenRunning(reactor.stop)


class ListenerService(MultiService):
    """
    Runs C{subscriber} after the start-up checks; its other children (e.g.
    the metrics endpoint) start at once, and a child that could not listen
    (its C{listen_error}) ends the process (L{ExitStatus.CANNOT_LISTEN}).

    @param queues: the subscribed queue names.
    @param exit: called with the exit status when the process must end
        (default L{stop_with_status} on C{reactor}).
    @param environ: where C{NOTIFY_SOCKET} and C{WATCHDOG_USEC} are read.
    @param signals: install the daemon's SIGHUP, SIGUSR1 and SIGUSR2
        handlers (L{txzaqar.daemon._signals}) once the reactor runs.
    @param handlers: the handlers' set-up (run after the checks, before the
        Subscriber starts) and tear-down (after it stopped), and their
        health, which C{STATUS=} adds to the Subscriber's
        (L{txzaqar.daemon._lifecycle.Handlers}).
    """

    def __init__(
        self,
        subscriber: ISubscriber,
        client: IClient,
        queues: list[str],
        reactor: Any,
        exit: Callable[[int], None] | None = None,
        environ: dict[str, str] | None = None,
        signals: bool = False,
        handlers: Handlers | None = None,
    ) -> None:
        super().__init__()
        self.subscriber = subscriber
        self.client = client
        self._queues = list(queues)
        self._reactor = reactor
        self._exit = exit if exit is not None else (lambda status: stop_with_status(reactor, status))
        self._notifier = Notifier(environ)
        self._watchdog_interval = watchdog_interval(environ)
        self._watchdog: LoopingCall | None = None
        self._last_status: str | None = None
        self._signals = signals
        self._handlers = handlers if handlers is not None else Handlers([])
        self._starting: Deferred[None] | None = None
        #: the exit status asked for, if the startup check failed
        self.exit_status: int | None = None

    def startService(self) -> None:
        super().startService()
        if self._signals:
            self._reactor.callWhenRunning(install_signal_handlers, self._reactor, self.subscriber)
        if self._notifier.enabled:
            interval = self._watchdog_interval or STATUS_INTERVAL
            self._watchdog = LoopingCall(self._tick)
            self._watchdog.clock = self._reactor
            self._watchdog.start(interval, now=True).addErrback(
                lambda f: log.failure("the watchdog loop died", f))
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addErrback(self._start_failed)

    def _start_failed(self, failure: Any) -> None:
        if failure.check(CancelledError):
            return
        # Not a ZaqarError the check could judge: say so and end, rather than
        # hang with the Subscriber never started.
        error = failure.value
        self._cannot_start(f"unexpected error: {type(error).__name__}: {error}", ExitStatus.SOFTWARE)

    async def _start(self) -> None:
        for child in self:
            listen_error = getattr(child, "listen_error", None)
            if listen_error is not None:
                # e.g. --metrics on a port in use: probes and scrapes would fail for ever
                self._cannot_start(f"the metrics endpoint could not listen: {type(listen_error).__name__}: "
                                   f"{listen_error}", ExitStatus.CANNOT_LISTEN)
                return
        for finding in await startup_findings(self.client, self._queues):
            if finding.status == "warn":
                log.warn("{text}", text=finding.text)
            elif finding.status == "fail" and finding.permanent:
                self._cannot_start(finding.text, finding.exit_status)
                return
            elif finding.status == "fail":
                log.warn("Zaqar is {text}; starting anyway, the Subscriber backs off until it answers",
                         text=finding.text)
        if not self.running:
            return
        try:
            await self._handlers.setup()
        except HandlerSetupFailed as e:
            self._cannot_start(str(e), ExitStatus.HANDLER_SETUP)
            return
        if not self.running:
            await self._handlers.teardown()
            return
        self.subscriber.startService()
        push_error = getattr(self.subscriber, "push_start_error", None)
        if push_error is not None:
            # e.g. --webhook-listen on a port in use: the operator asked for push
            self._cannot_start(f"push could not start: {type(push_error).__name__}: {push_error}",
                               ExitStatus.CANNOT_LISTEN)
            return
        self._last_status = f"listening to {len(self._queues)} queue(s)"
        self._notifier.ready(self._last_status)

    def _cannot_start(self, text: str, status: ExitStatus) -> None:
        """Log one critical line and end the process with C{status}."""
        log.critical("cannot start: {text}", text=text)
        self.exit_status = int(status)
        self._exit(int(status))

    def status(self) -> str:
        """
        The C{STATUS=} line: C{"listening to 3 queue(s)"} while ready,
        else how many queues and why (the reasons of L{txzaqar.subscriber.readiness.Health}).
        """
        if not self.subscriber.running:
            return f"starting: checking Zaqar for {len(self._queues)} queue(s)"
        health = self.subscriber.health()
        reasons = [*health.reasons, *self._handlers.reasons()]
        queues = len(self.subscriber.channels)
        discovered = len(self.subscriber.discovered())
        counted = f"{queues:,} queue(s)" + (f", {discovered:,} of them discovered" if discovered else "")
        if health.ready and not reasons:
            return f"listening to {counted}"
        # STATUS= is one datagram: with many queues, their reasons must not all go in
        more = f"; and {len(reasons) - STATUS_REASONS:,} more" if len(reasons) > STATUS_REASONS else ""
        return f"{counted}, not ready: " + "; ".join(reasons[:STATUS_REASONS]) + more

    def _tick(self) -> None:
        # The watchdog says the process is alive (the reactor runs this);
        # whether it is ready goes into STATUS= and /readyz instead.
        if self._watchdog_interval is not None:
            self._notifier.watchdog()
        text = self.status()
        if text != self._last_status:
            self._last_status = text
            self._notifier.status(text)

    def stopService(self) -> Deferred[None]:
        self._notifier.stopping()
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        if self.subscriber.running:
            await self.subscriber.stopService()
        await self._handlers.teardown()  # after the last message
        await super().stopService()
        self._notifier.close()



class CheckService(Service):
    """
    C{zaqar-listen --check}: runs the start-up checks once, writes one line
    per check to C{out}, and ends the process: L{ExitStatus.OK} when nothing
    failed, else the first failure's status (L{ExitStatus.UNAVAILABLE} for
    a server that is away).  Nothing is consumed.

    @param out: where the lines go (the daemon passes the process's
        standard output, which twistd does not redirect into its log).
    @param checked: lines of checks already passed (options, handler).
    """

    def __init__(self, client: IClient, queues: list[str], reactor: Any, out: Any,
                 checked: list[str], exit: Callable[[int], None] | None = None) -> None:
        self.client = client
        self._queues = list(queues)
        self._out = out
        self._checked = list(checked)
        self._exit = exit if exit is not None else (lambda status: stop_with_status(reactor, status))
        #: the exit status decided, once the checks ran
        self.exit_status: int | None = None

    def startService(self) -> None:
        super().startService()
        Deferred.fromCoroutine(self._run()).addErrback(self._failed)

    def _write(self, status: str, text: str) -> None:
        self._out.write(f"{status:<4} {text}\n")
        self._out.flush()

    async def _run(self) -> None:
        for line in self._checked:
            self._write("ok", line)
        status = ExitStatus.OK
        for finding in await startup_findings(self.client, self._queues):
            self._write(finding.status, finding.text)
            if finding.status == "fail" and status == ExitStatus.OK:
                status = finding.exit_status
        await self.client.close()
        self.exit_status = int(status)
        self._exit(int(status))

    def _failed(self, failure: Any) -> None:
        self._write("fail", f"unexpected error: {type(failure.value).__name__}: {failure.value}")
        self.exit_status = int(ExitStatus.SOFTWARE)
        self._exit(int(ExitStatus.SOFTWARE))
