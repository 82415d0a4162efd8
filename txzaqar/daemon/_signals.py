"""
What C{zaqar-listen} does on the signals that operators, logrotate and
terminals send besides SIGTERM and SIGINT (which twistd and twist turn
into the graceful stop).  Without handlers, SIGHUP, SIGUSR1 and SIGUSR2
would end the process at once: no stop, claims held until their ttl, and
systemd would count death by SIGHUP as a clean exit.

 - SIGHUP (a closed terminal, a C{postrotate} script, C{systemctl reload}):
   one line, and the daemon goes on.  There is nothing to reload: the
   options are read once; restart it to change them.
 - SIGUSR1: twistd's own meaning is kept (with C{--logfile FILE}, the log
   file is rotated); one line either way.
 - SIGUSR2: one line with the daemon's state (queues, callbacks in
   flight, readiness and its reasons).

The handlers are installed once the reactor runs (so that they replace
the default actions and follow twistd's own SIGUSR1 handler, which they
call), and only from the main thread, as C{signal.signal} requires.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from twisted.logger import Logger

from ..interfaces import ISubscriber

__all__ = ["DAEMON_SIGNALS", "install_signal_handlers", "state_line"]

log = Logger(namespace="txzaqar.listen")

#: The signals handled here, by name.
DAEMON_SIGNALS = ("SIGHUP", "SIGUSR1", "SIGUSR2")

_Handler = Callable[[int, "FrameType | None"], Any]


def state_line(subscriber: ISubscriber) -> str:
    """One line of what C{subscriber} is doing (no body, no secret)."""
    health = subscriber.health()
    queues = sorted(subscriber.channels)
    in_flight = sum(subscriber.callbacks_in_flight().values())
    text = (f"{len(queues)} queue(s) ({', '.join(queues)}), {in_flight} "
            f"callback(s) in flight, {'ready' if health.ready else 'not ready'}")
    if health.reasons:
        text += ": " + "; ".join(health.reasons)
    return text


def install_signal_handlers(reactor: Any, subscriber: ISubscriber,
                            install: Callable[[int, _Handler], Any] = signal.signal,
                            current: Callable[[int], Any] = signal.getsignal) -> list[str]:
    """
    Install the handlers of L{DAEMON_SIGNALS} described in this module;
    call it on the reactor (main) thread, once the reactor runs.

    @param install: C{signal.signal} (a stand-in for tests).
    @param current: C{signal.getsignal} (a stand-in for tests).
    @return: the names of the signals handled (none off the main thread,
        or where the platform lacks them).
    """
    if install is signal.signal and threading.current_thread() is not threading.main_thread():
        return []
    handled = []
    for name in DAEMON_SIGNALS:
        number = getattr(signal, name, None)
        if number is None:
            continue
        previous = current(number)
        install(number, _handler(reactor, subscriber, name, previous if callable(previous) else None))
        handled.append(name)
    return handled


def _handler(reactor: Any, subscriber: ISubscriber, name: str, previous: _Handler | None) -> _Handler:
    def handle(number: int, frame: FrameType | None) -> None:
        # A signal handler may run between any two bytecodes of the reactor
        # thread: do the work on the reactor, as Twisted's own handlers do.
        reactor.callFromThread(_act, subscriber, name, previous, number)

    return handle


def _act(subscriber: ISubscriber, name: str, previous: _Handler | None, number: int) -> None:
    if name == "SIGHUP":
        log.info("SIGHUP: nothing to reload (options are read at start); still running. "
                 "SIGTERM stops the daemon gracefully")
    elif name == "SIGUSR1":
        if previous is not None:
            previous(number, None)
            log.info("SIGUSR1: the log file was rotated; still running")
        else:
            log.info("SIGUSR1: no log file to rotate (logging to standard output); still running")
    else:
        log.info("SIGUSR2: {state}", state=state_line(subscriber))
