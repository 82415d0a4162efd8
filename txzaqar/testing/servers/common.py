"""
What every real-server module needs: the harness's error, its progress
line on stderr, log tails for error messages, polling with a deadline, a
free loopback port, and the INI writer of the servers' configuration files.

Only the standard library is used here.
"""

from __future__ import annotations

import functools
import os
import random
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["HarnessError", "free_port", "say", "tail", "wait_until", "write_ini"]


class HarnessError(RuntimeError):
    """A server could not be built, started or stopped."""


def say(msg: str) -> None:
    """Print one progress line to stderr (this is test tooling, not the library)."""
    print(f"[txzaqar.testing] {msg}", file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 40) -> str:
    """The last I{lines} lines of the file at I{path} (or why it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "\n".join(data.splitlines()[-lines:])


def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """
    Call I{pred} every I{step} seconds (blocking) until it is true or
    I{timeout} seconds have passed.  Returns whether it became true.
    """
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


#: Ports handed out by L{free_port} in this process (never handed out twice).
_given: set[int] = set()


@functools.cache
def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux; else IANA's)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def free_port() -> int:
    """
    A currently free TCP port on 127.0.0.1, below the ephemeral range, and
    not one handed out before in this process.  A server stopped and
    started again on its port (the restart tests) would otherwise race
    every outgoing connection, which may be given that port as its local
    one while the server is down.
    """
    low, _ = _ephemeral_range()
    floor = max(1024, low - 20000)
    for _ in range(200):
        port = random.randrange(floor, low) if floor < low else 0  # 0: no room, the kernel chooses
        if port in _given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(s.getsockname()[1])
        _given.add(port)
        return port
    raise HarnessError("no free loopback port found in 200 tries")


def write_ini(path: Path, sections: dict[str, dict[str, str]]) -> None:
    """Write I{sections} (C{{section: {option: value}}}) to I{path} as an INI file, in order."""
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {v}" for k, v in values.items())
        lines.append("")
    path.write_text("\n".join(lines))
