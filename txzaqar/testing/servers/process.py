"""
Child-process supervision for the test servers.

Every server is started on a free loopback port, in its own session (so its
whole process group can be signalled), with C{PR_SET_PDEATHSIG} on Linux (so
it dies with the process that started it), an L{atexit} hook (registered
when the first server starts, not at import), and a pid file in the state
directory so that a later run can clean up after a run that crashed
(L{kill_stale}).  Processes are only ever stopped by their recorded PID and
process group, never by name.

L{ServerProcess} is the base of every server class; this module keeps the
list of the live ones (L{stop_servers}).

Only the standard library is used here.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Self

from .common import HarnessError, free_port, say, tail, wait_until
from .venv import state_dir

__all__ = [
    "ServerProcess",
    "group_alive",
    "group_stats",
    "kill_stale",
    "run_dir",
    "start_time",
    "stop_servers",
    "terminate_group",
]

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    # Runs in the child between fork and exec.  NB: the death signal fires
    # when the *thread* that forked us exits, so it is only set up for
    # servers started from the main thread (see ServerProcess.spawn).
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except Exception:  # noqa: BLE001, S110 - best effort; the atexit hook still stops it
            pass


def start_time(pid: int) -> str | None:
    """The kernel's start time of I{pid} (to tell a PID from a reused one), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22; the comm field (2) may contain spaces, so split after ')'
    return stat.rsplit(")", 1)[1].split()[19]


def group_alive(pgid: int) -> bool:
    """Whether process group I{pgid} has a member that is not a zombie."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # ignore zombies: look for a live member of the group
    return any(fields[0] != "Z" for fields in group_stats(pgid))


def group_stats(pgid: int) -> Iterator[list[str]]:
    """
    The C{/proc/PID/stat} fields after the command name (state first) of
    every process in process group I{pgid}.
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # the comm field may contain spaces and ')': split after the last ')'
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            yield fields


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate_group(pgid: int, proc: subprocess.Popen | None, timeout: float) -> None:
    """
    SIGTERM process group I{pgid}, wait up to I{timeout} seconds, then SIGKILL
    what is left (reaping I{proc}, its leader, when it is our child).

    @raise HarnessError: the group survived SIGKILL.
    """

    def gone() -> bool:
        if proc is not None:
            proc.poll()  # reap the leader if it is our child
        return not group_alive(pgid)

    _killpg(pgid, signal.SIGTERM)
    if not wait_until(gone, timeout):
        say(f"process group {pgid} did not stop after SIGTERM; sending SIGKILL")
        _killpg(pgid, signal.SIGKILL)
        if not wait_until(gone, 5):
            raise HarnessError(f"process group {pgid} survived SIGKILL")
    if proc is not None:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def kill_stale(directory: Path | str | None = None) -> int:
    """
    Stop servers left behind by earlier runs whose owning process is gone,
    and remove their run directories.  Uses the pid files the harness
    writes; a PID is only signalled when its kernel start time still matches
    the recorded one.  Returns the number of servers stopped.
    """
    runs = Path(directory) if directory is not None else state_dir() / "run"
    if not runs.is_dir():
        return 0
    stopped = 0
    for run in sorted(runs.iterdir()):
        if run.name.startswith(_MAKING):
            # being made by run_dir(): removed only when its maker is gone
            maker = run.name[len(_MAKING):].split("-", 1)[0]
            if maker.isdigit() and start_time(int(maker)) is None:
                shutil.rmtree(run, ignore_errors=True)
            continue
        owner_file = run / "owner.json"
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            owner = None
        if owner is not None and start_time(owner["pid"]) == owner["start_time"]:
            continue  # the owning process is alive: not stale
        for pidfile in run.rglob("*.pid"):
            try:
                rec = json.loads(pidfile.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(rec, dict) or "pid" not in rec:
                continue
            pid = rec["pid"]
            current = start_time(pid)
            if current is not None and current != rec["start_time"]:
                continue  # PID reused by an unrelated process
            if current is None and not group_alive(pid):
                continue
            # Either the leader is still ours, or it is gone but members of
            # its group remain (a PID is not reused while its group exists).
            say(f"stopping stale {pidfile.stem} (pid {pid}) from {run}")
            terminate_group(pid, None, 10)
            stopped += 1
        shutil.rmtree(run, ignore_errors=True)
    return stopped


#: The prefix of a run directory that run_dir() is still making.
_MAKING = ".making-"

_run_dir_lock = threading.Lock()
_run_dir: Path | None = None


def run_dir() -> Path:
    """
    This process's directory under C{<state>/run} for configs, logs and pid
    files, with an C{owner.json} naming this process; created on first use
    (after L{kill_stale} cleaned up after dead runs).
    """
    global _run_dir
    with _run_dir_lock:
        if _run_dir is None or not _run_dir.exists():
            base = state_dir() / "run"
            base.mkdir(parents=True, exist_ok=True)
            kill_stale(base)
            name = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
            # made under a hidden name and renamed once it names its owner: another
            # process's kill_stale must never see it without owner.json (it would
            # take it for a dead run's and remove it)
            making = base / f"{_MAKING}{name}"
            making.mkdir()
            (making / "owner.json").write_text(
                json.dumps({"pid": os.getpid(), "start_time": start_time(os.getpid())})
            )
            path = making.rename(base / name)
            _run_dir = path
        return _run_dir


_live: list[ServerProcess] = []
_live_lock = threading.Lock()
_exit_hook_registered = False


def _track(server: ServerProcess) -> None:
    global _exit_hook_registered
    with _live_lock:
        _live.append(server)
        if not _exit_hook_registered:
            # the first server of this process: stop them all at exit
            atexit.register(stop_servers)
            _exit_hook_registered = True


def stop_servers() -> None:
    """
    Stop every server this process started and has not stopped (newest
    first); the exit hook.

    @raise Exception: the first error of a server that would not stop
        (after trying all the others).
    """
    with _live_lock:
        servers = list(reversed(_live))
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as e:  # noqa: BLE001 - keep stopping the others
            errors.append(e)
    if errors:
        raise errors[0]


class ServerProcess:
    """
    A server as a child process in its own session, with a pid file, its
    output in C{<directory>/<name>.out} and, when it has one, its own log
    in L{log_file}.  Subclasses implement C{start()}.
    """

    #: The server's name, in its file names and messages.
    name = "server"
    #: Seconds L{stop} waits after SIGTERM before SIGKILL.
    stop_timeout = 15.0

    def __init__(self, directory: Path | None = None) -> None:
        #: Where its files go (made when needed if C{None}).
        self.directory = directory
        #: The running process, or C{None}.
        self.process: subprocess.Popen | None = None
        #: Its port, once chosen (C{None} before).
        self.port: int | None = None

    @property
    def pid(self) -> int | None:
        """The process's pid, or C{None} when not running."""
        return self.process.pid if self.process is not None else None

    @property
    def output_file(self) -> Path:
        """Where its output goes: C{<directory>/<name>.out}."""
        assert self.directory is not None
        return self.directory / f"{self.name}.out"

    @property
    def pid_file(self) -> Path:
        """Its pid file: C{<directory>/<name>.pid}."""
        assert self.directory is not None
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path | None:
        """The server's own log file, if it writes one besides its output."""
        return None

    def ensure_directory(self) -> Path:
        """The server's directory (default: C{<run dir>/<name>}), created."""
        if self.directory is None:
            self.directory = run_dir() / self.name
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory

    def spawn(
        self,
        cmd: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start I{cmd} in a new session, output to L{output_file}; write the pid file."""
        with open(self.output_file, "ab") as out:
            out.write(f"\n$ {' '.join(cmd)}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=str(cwd) if cwd else None,
                env=env,
                start_new_session=True,
                # PR_SET_PDEATHSIG is tied to the forking *thread*: from a
                # worker thread the server would die with that thread.  Off
                # the main thread we rely on atexit and kill_stale() instead.
                preexec_fn=(  # noqa: PLW1509 - only calls prctl
                    _child_setup if threading.current_thread() is threading.main_thread() else None
                ),
            )
        self.pid_file.write_text(
            json.dumps(
                {
                    "pid": self.process.pid,
                    "start_time": start_time(self.process.pid),
                    "cmd": list(cmd),
                }
            )
        )
        _track(self)

    def spawn_on_port(
        self,
        spawn: Callable[[int], None],
        wait: Callable[[], None],
        fixed_port: int | None = None,
        attempts: int = 3,
    ) -> None:
        """
        Start the server on I{fixed_port} or a free port, retrying on
        another free port when it died saying its port was "in use" (a race
        with another process between picking and binding).

        @param spawn: spawns the server on the port it is given (which is
            also L{port} by then).
        @param wait: blocks until the server answers or has died; raises
            L{HarnessError} (after stopping the server) when it does neither
            in time.
        @raise HarnessError: the server died during start-up.
        """
        for attempt in range(attempts):
            self.port = fixed_port or free_port()
            spawn(self.port)
            wait()
            if self.running():
                return
            if "in use" not in self.startup_output() or attempt == attempts - 1 or fixed_port:
                self.check_alive("during startup")
            self.stop()
        raise HarnessError("unreachable")

    def startup_output(self) -> str:
        """What the server wrote: its output file, and the tail of its log."""
        out = self.output_file.read_text(errors="replace")
        if self.log_file is not None:
            out += tail(self.log_file)
        return out

    def running(self) -> bool:
        """Whether its process is running."""
        return self.process is not None and self.process.poll() is None

    def check_alive(self, what: str) -> None:
        """@raise HarnessError: the process has exited (I{what}: when, for the message)."""
        if self.process is not None and self.process.poll() is not None:
            raise HarnessError(
                f"{self.name} exited with code {self.process.returncode} {what}\n" + self.log_tails()
            )

    def log_tails(self) -> str:
        """The tails of the output file and the log file, for an error message."""
        tails = f"--- tail of {self.output_file} ---\n{tail(self.output_file)}"
        if self.log_file is not None:
            tails += f"\n--- tail of {self.log_file} ---\n{tail(self.log_file)}"
        return tails

    def stop(self) -> None:
        """SIGTERM the server's process group, wait, SIGKILL if needed."""
        proc = self.process
        if proc is None:
            return
        try:
            terminate_group(proc.pid, proc, self.stop_timeout)
        finally:
            self._forget()

    def kill(self) -> None:
        """
        SIGKILL the server's process group at once (a crash, for tests that
        need one) and wait until it is gone; L{start} can start it again.

        @raise HarnessError: the group survived SIGKILL.
        """
        proc = self.process
        if proc is None:
            return
        try:
            _killpg(proc.pid, signal.SIGKILL)

            def gone() -> bool:
                proc.poll()  # reap the leader: it is our child
                return not group_alive(proc.pid)

            if not wait_until(gone, 10):
                raise HarnessError(f"{self.name}: process group {proc.pid} survived SIGKILL")
            proc.wait(5)
        finally:
            self._forget()

    def _forget(self) -> None:
        # no longer ours to stop at exit
        self.process = None
        with _live_lock:
            if self in _live:
                _live.remove(self)
        try:
            self.pid_file.unlink()
        except OSError:
            pass

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:  # pragma: no cover - abstract
        """
        Start the server and wait until it answers (blocking); each subclass implements it.

        @raise HarnessError: it did not come up.
        """
        raise NotImplementedError
