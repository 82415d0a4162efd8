"""
Zaqar's WebSocket transport as a second C{zaqar-server} process beside an
HTTP L{ZaqarServer <txzaqar.testing.servers.zaqar.ZaqarServer>}, on the same
Redis database and the same configuration (auth, notifier pipeline, signed
URL key), plus an overlay that switches the transport::

    [drivers]
    transport = websocket
    [drivers:transport:websocket]
    bind = 127.0.0.1
    port = <free port>
    notification_bind = 127.0.0.1
    notification_port = <free port>

The notification options must be spelled with underscores: the dashed
spelling is silently ignored and the internal notification server then
listens on every interface and advertises the host name.  A subscription
made over the WebSocket without a C{subscriber} is recorded as
C{http://127.0.0.1:<notification_port>/<connection uuid>}; the notifier of
whichever process stored a message POSTs there and this process forwards it
to the connection as a C{{"Message_Type": "Notification", ...}} frame.

L{websocket_handshake} and L{wait_for_websocket} check one with a real
opening handshake.

Only the standard library is used here.
"""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .common import HarnessError, free_port, say, write_ini
from .process import ServerProcess

if TYPE_CHECKING:
    from .zaqar import ZaqarServer

__all__ = ["ZaqarWebSocketServer", "wait_for_websocket", "websocket_handshake"]


def websocket_handshake(url: str, timeout: float = 2.0) -> str | None:
    """
    Open a WebSocket to I{url} (C{ws://host:port[/path]}), then close it.

    @return: the status line of the server's answer to the opening
        handshake (C{"HTTP/1.1 101 Switching Protocols"} when it accepted
        one), or C{None} if it cannot connect or does not answer.
    """
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
        raise ValueError(f"expected ws://HOST:PORT, not {url!r}")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\n"
        f"Host: {parts.hostname}:{parts.port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
            sock.sendall(request.encode("ascii"))
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            if answer.startswith(b"HTTP/1.1 101"):
                # a masked close frame (code 1000), so the server logs a clean close
                mask = os.urandom(4)
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"\x03\xe8"))
                sock.sendall(b"\x88\x82" + mask + payload)
    except OSError:
        return None
    line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    return line or None


def wait_for_websocket(url: str, timeout: float = 60.0, alive: Callable[[], bool] = lambda: True) -> None:
    """
    Wait until I{url} accepts a WebSocket opening handshake (or C{alive()}
    turns false).

    @raise HarnessError: no handshake within I{timeout} seconds.
    """
    last: str | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return
        last = websocket_handshake(url)
        if last is not None and last.startswith("HTTP/1.1 101"):
            return
        time.sleep(0.1)
    raise HarnessError(f"{url} did not accept a WebSocket handshake within {timeout}s (last: {last})")


class ZaqarWebSocketServer(ServerProcess):
    """
    Zaqar's WebSocket transport for the HTTP I{zaqar}: C{zaqar-server
    --config-file <zaqar's> --config-file <overlay>}, on loopback ports
    chosen at the first start and kept after: C{kill()} (SIGKILL, a crash,
    L{ServerProcess.kill}) or C{stop()}, then L{start}, brings it back on
    the same C{ws://} port and notification port while the HTTP server
    keeps running.

    @param zaqar: the HTTP server whose configuration it shares; it must
        have been started once (its C{zaqar.conf} is read at each start).
    @param port: a fixed WebSocket port instead of a free one.
    @param notification_port: a fixed port for the internal notification
        server instead of a free one.
    """

    def __init__(
        self,
        zaqar: ZaqarServer,
        *,
        name: str | None = None,
        directory: Path | None = None,
        port: int | None = None,
        notification_port: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__(directory)
        #: The HTTP server whose configuration it shares.
        self.zaqar = zaqar
        #: The server's name, in its file names and messages.
        self.name = name or f"{zaqar.name}-ws"
        #: The fixed WebSocket port asked for, or C{None} for a free one.
        self.fixed_port = port
        #: The internal notification server's port, once chosen.
        self.notification_port = notification_port
        #: Seconds L{start} waits for it to accept a handshake.
        self.start_timeout = start_timeout
        #: Seconds the last L{start} took, from spawning to the first accepted handshake.
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        """
        Its URL, C{ws://127.0.0.1:PORT}.

        @raise HarnessError: it has never been started.
        """
        if self.port is None:
            raise HarnessError(f"{self.name} has not been started")
        return f"ws://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        """Its overlay C{websocket.conf} (read after the HTTP server's C{zaqar.conf})."""
        assert self.directory is not None
        return self.directory / "websocket.conf"

    @property
    def log_file(self) -> Path:
        """Its own Zaqar log, C{zaqar-websocket.log}."""
        assert self.directory is not None
        return self.directory / "zaqar-websocket.log"

    def overlay(self) -> dict[str, dict[str, str]]:
        """
        The options it sets over the HTTP server's configuration.

        @return: C{{section: {option: value}}}.
        """
        assert self.port is not None and self.notification_port is not None
        return {
            "DEFAULT": {"log_file": str(self.log_file)},
            "drivers": {"transport": "websocket"},
            "drivers:transport:websocket": {
                "bind": "127.0.0.1",
                "port": str(self.port),
                # underscores: the dashed spelling is ignored (binds 0.0.0.0)
                "notification_bind": "127.0.0.1",
                "notification_port": str(self.notification_port),
            },
        }

    def start(self) -> None:
        """
        Start it (blocking) and wait until it accepts a WebSocket handshake;
        a restart reuses the ports of the first start.

        @raise HarnessError: the HTTP server was never started, or this one
            did not come up.
        """
        if self.running():
            return
        if not self.zaqar.config_file.exists() or self.zaqar.venv is None:
            raise HarnessError(f"{self.name}: start {self.zaqar.name} first (its zaqar.conf is shared)")
        venv = self.zaqar.venv
        self.ensure_directory()
        env = dict(os.environ)
        env["PYTHONWARNINGS"] = "ignore"
        env.pop("PYTHONPATH", None)
        # once chosen, the ports stay: clients reconnect to the same URL
        fixed_port = self.fixed_port or self.port
        fixed_notification = self.notification_port
        started = time.monotonic()

        def spawn(port: int) -> None:
            self.notification_port = fixed_notification or free_port()
            write_ini(self.config_file, self.overlay())
            cmd = [
                str(venv / "bin" / "zaqar-server"),
                "--config-file",
                str(self.zaqar.config_file),
                "--config-file",
                str(self.config_file),
            ]
            self.spawn(cmd, env=env, cwd=self.directory)

        def wait() -> None:
            try:
                wait_for_websocket(self.url, self.start_timeout, alive=self.running)
            except HarnessError as e:
                tails = self.log_tails()
                self.stop()
                raise HarnessError(f"{self.name}: {e}\n{tails}") from None

        self.spawn_on_port(spawn, wait, fixed_port)
        self.startup_seconds = time.monotonic() - started
        say(f"{self.name} up at {self.url} in {self.startup_seconds:.1f}s")
