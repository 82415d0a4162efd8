"""
systemd's notification protocol (C{sd_notify(3)}): C{READY=1},
C{STOPPING=1}, C{WATCHDOG=1} and C{STATUS=...} as datagrams to
C{$NOTIFY_SOCKET}, so a C{Type=notify} unit knows when the daemon is up,
stopping, or stuck.  Without C{$NOTIFY_SOCKET} (not under systemd) every
call does nothing.

The socket is a non-blocking C{AF_UNIX} datagram socket: a send never
waits, so calling from the reactor thread is safe; a full or missing
receiver loses the notification and logs once at debug.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from twisted.logger import Logger

__all__ = ["Notifier", "watchdog_interval"]

#: This module's logger.
log = Logger(namespace="txzaqar.sdnotify")  # its name before the move to packages


def _address(value: str) -> str | bytes:
    # A leading "@" names a socket in the abstract namespace (a NUL byte).
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """
    Sends notifications to C{NOTIFY_SOCKET} from C{environ}.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        value = env.get("NOTIFY_SOCKET", "")
        self._address = _address(value) if value else None
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """
        Send C{KEY=value} lines as one datagram.

        @return: C{True} if it was sent, C{False} when there is no socket
            or the send failed (logged at debug).
        """
        if self._address is None:
            return False
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.setblocking(False)
        try:
            self._socket.sendto("\n".join(assignments).encode(), self._address)
        except OSError as e:
            log.debug("sd_notify failed: {error}", error=e)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """C{READY=1} (with C{STATUS=status}): the service is up."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> bool:
        """C{STOPPING=1}: the service is stopping."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """C{WATCHDOG=1}: the service is alive and well."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """C{STATUS=text}: one line for C{systemctl status}."""
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        """Close the socket, if one was opened (a later L{notify} opens another)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """
    Seconds between C{WATCHDOG=1} pings: half of C{$WATCHDOG_USEC}, as
    C{sd_watchdog_enabled(3)} advises; C{None} when no watchdog is set, or
    C{$WATCHDOG_PID} names another process.
    """
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None
