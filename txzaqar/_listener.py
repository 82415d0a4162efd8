"""
The daemon's top service: it checks once that Zaqar can be reached with
the credentials given, then starts the L{Subscriber}, and tells systemd
(C{sd_notify}) when it is ready, alive and stopping, and how it is doing
(C{STATUS=}).

Liveness is not readiness: C{WATCHDOG=1} is sent while the reactor runs
this service, whatever Zaqar or Keystone do, so that an outage longer than
C{WatchdogSec} is ridden out (and shown in C{STATUS=} and C{/readyz})
rather than turned into a restart loop; a hung reactor stops the pings.

Refused credentials (Keystone refusing the login, Zaqar answering 401
after a new token, or 403) end the process with one line and exit status
1: no backoff will fix them.  An unreachable server (connection refused,
timeouts, 5xx, Keystone down) does not: the Subscriber starts, backs off
and recovers when the server returns.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from . import errors
from ._daemon_signals import install_signal_handlers
from .interfaces import IClient, ISubscriber
from .sdnotify import Notifier, watchdog_interval

__all__ = ["ListenerService", "stop_with_status"]

log = Logger(namespace="txzaqar.listen")

#: Seconds between C{STATUS=} updates when there is no watchdog to time them.
STATUS_INTERVAL = 15.0


def _advice(error: BaseException) -> str:
    if isinstance(error, errors.Forbidden):
        return "the user may not use this queue or project: check its roles and the project"
    if isinstance(error, errors.Unauthorized):
        return "Zaqar refused the token: check the project and Zaqar's Keystone settings"
    return "check the user, the password (file) and the project: Keystone refused them"


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
    Runs C{subscriber} after a startup check; its other children (e.g. the
    metrics endpoint) start at once, and a child that could not listen
    (its C{listen_error}) ends the process with status 1.

    @param queues: the subscribed queue names (the check reads the first).
    @param exit: called with the exit status when the process must end
        (default L{stop_with_status} on C{reactor}).
    @param environ: where C{NOTIFY_SOCKET} and C{WATCHDOG_USEC} are read.
    @param signals: install the daemon's SIGHUP, SIGUSR1 and SIGUSR2
        handlers (L{txzaqar._daemon_signals}) once the reactor runs.
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
        self._cannot_start("unexpected error", failure.value)

    async def _start(self) -> None:
        for child in self:
            listen_error = getattr(child, "listen_error", None)
            if listen_error is not None:
                # e.g. --metrics on a port in use: probes and scrapes would fail for ever
                self._cannot_start("the metrics endpoint could not listen", listen_error)
                return
        failure = await self._check()
        if failure is not None and errors.refused(failure):
            self._cannot_start("", failure, advice=_advice(failure))
            return
        if failure is not None:
            log.warn("Zaqar is not reachable yet ({error}); starting anyway, the Subscriber backs off "
                     "until it answers", error=f"{type(failure).__name__}: {failure}")
        if not self.running:
            return
        self.subscriber.startService()
        push_error = getattr(self.subscriber, "push_start_error", None)
        if push_error is not None:
            # e.g. --webhook-listen on a port in use: the operator asked for push
            self._cannot_start("push could not start", push_error)
            return
        self._last_status = f"listening to {len(self._queues)} queue(s)"
        self._notifier.ready(self._last_status)

    def _cannot_start(self, what: str, error: BaseException, advice: str = "") -> None:
        """Log one critical line (C{what}, the error, C{advice}) and end the process with status 1."""
        log.critical("cannot start: {what}{error}{advice}", what=f"{what}: " if what else "",
                     error=f"{type(error).__name__}: {error}", advice=f"; {advice}" if advice else "")
        self.exit_status = 1
        self._exit(1)

    async def _check(self) -> BaseException | None:
        """Read the first queue's stats once: the error, or C{None} when that worked."""
        try:
            await self.client.queue(self._queues[0]).stats()
        except errors.ClientValidationError:
            return None  # e.g. a signed URL that does not allow reading stats: nothing to learn
        except errors.ZaqarError as e:
            return e
        return None

    def status(self) -> str:
        """
        The C{STATUS=} line: C{"listening to 3 queue(s)"} while ready,
        else how many queues and why (L{txzaqar.subscriber.Health} reasons).
        """
        if not self.subscriber.running:
            return f"starting: checking Zaqar for {len(self._queues)} queue(s)"
        health = self.subscriber.health()
        if health.ready:
            return f"listening to {len(self._queues)} queue(s)"
        return f"{len(self._queues)} queue(s), not ready: " + "; ".join(health.reasons)

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
        await super().stopService()
        self._notifier.close()

