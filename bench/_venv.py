"""
The benchmark's own virtualenv: python-zaqarclient (the official client) and
matplotlib (for the plot).  Neither ever goes into the project's environment.

It lives next to the Zaqar server venv, in the harness's state directory
(``.zaqar-servers/bench-venv`` by default, git-ignored), and is rebuilt when
the requirement list changes.  Only the standard library is used here.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from txzaqar.testing.servers.venv import state_dir

#: Pinned: the version perf-baseline.md measured.
REQUIREMENTS = ("python-zaqarclient==4.7.0", "matplotlib")
MARKER = ".bench-requirements"


def _say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def venv_path() -> Path:
    return state_dir() / "bench-venv"


def _marker() -> str:
    return json.dumps({"requirements": list(REQUIREMENTS), "python": sys.version.split()[0]})


def _complete(venv: Path) -> bool:
    try:
        return (venv / MARKER).read_text() == _marker() and (venv / "bin" / "python").exists()
    except OSError:
        return False


def ensure_bench_venv() -> Path:
    """Build (once) and return the benchmark venv; raises RuntimeError with pip's log tail."""
    venv = venv_path()
    if _complete(venv):
        return venv
    lock_path = venv.parent / ".bench-venv.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _complete(venv):
            return venv
        log_path = venv.parent / "bench-venv-build.log"
        _say(f"building the benchmark venv (python-zaqarclient, matplotlib) in {venv}; log: {log_path}")
        started = time.monotonic()
        if venv.exists():
            shutil.rmtree(venv)
        with open(log_path, "w") as log:
            for cmd in (
                [sys.executable, "-m", "venv", str(venv)],
                [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                 "--no-input", *REQUIREMENTS],
            ):
                log.write(f"$ {' '.join(cmd)}\n")
                log.flush()
                rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                if rc != 0:
                    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                    raise RuntimeError(f"{' '.join(cmd)} failed (exit {rc}):\n{tail}")
        (venv / MARKER).write_text(_marker())
        _say(f"benchmark venv ready in {time.monotonic() - started:.1f}s")
        return venv
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def has_matplotlib(venv: Path) -> bool:
    return subprocess.call([str(venv / "bin" / "python"), "-c", "import matplotlib"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


if __name__ == "__main__":
    print(ensure_bench_venv())
