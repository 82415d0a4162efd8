"""
Zaqar servers for tests: L{ZaqarServer} runs Zaqar 23.0.1 from the server
venv under gunicorn or its built-in server (optionally with pooling on a
SQLite catalogue, keystone auth through I{extra_config}, or HTTPS);
L{ExternalZaqar} stands for one somebody else runs; L{ping} and
L{wait_for_ping} check one.

Only the standard library is used here.
"""

from __future__ import annotations

import http.client
import os
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from .common import HarnessError, say, write_ini
from .pki import ServerTLS
from .process import ServerProcess
from .redis import RedisServer
from .venv import ensure_server_venv
from .websocket import ZaqarWebSocketServer

__all__ = ["MODES", "NOTIFIER", "ExternalZaqar", "ZaqarServer", "ping", "wait_for_ping"]

#: The C{[storage] message_pipeline} that delivers notifications (webhooks, WebSocket pushes).
NOTIFIER = "zaqar.notification.notifier"

#: How a L{ZaqarServer} can run: under gunicorn, or zaqar-server's wsgiref.
MODES = ("gunicorn", "builtin")
_PING_HEADERS = {
    "Client-ID": "3e9a0e2e-6e3a-4f39-9a5a-1c2c8d3f2a10",
    "X-Project-ID": "txzaqar-harness",
}

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
    C{GET {url}/v2/ping}; the status code, or None if it cannot connect.
    An C{https://} I{url} is checked with I{context} (default: the system's
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
    Wait until C{GET /v2/ping} answers one of I{ok} (or C{alive()} turns
    false).  A Zaqar with C{auth_strategy = keystone} answers 401 to an
    unauthenticated ping, so pass C{ok=(204, 401)} for one.
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


class ZaqarServer(ServerProcess):
    """
    A Zaqar HTTP(S) server on a free loopback port; no authentication unless
    I{extra_config} says otherwise.

    @param redis: the L{RedisServer} to store messages in (it gets its
        own database number from it); started if it is not running.
    @param mode: C{"gunicorn"} (2 gthread workers x 4 threads) or
        C{"builtin"} (C{zaqar-server}: wsgiref, single-threaded).
    @param pooling: configure C{pooling = true} with a SQLAlchemy management
        store on SQLite.  Then C{/v2/pools} and C{/v2/flavors} work
        (C{txzaqar/test/test_admin_real.py}); register C{self.pool_uris}
        (spare Redis databases, each usable by one pool at a time) as pools
        before creating queues.
    @param message_pipeline: e.g. C{"zaqar.notification.notifier"} (L{NOTIFIER})
        to enable webhook/subscription delivery.
    @param websocket: also run Zaqar's WebSocket transport (L{websocket},
        a L{ZaqarWebSocketServer} on the same configuration and Redis
        database), started and stopped with this server; the message
        pipeline defaults to L{NOTIFIER} then, so that a message posted
        over HTTP notifies WebSocket subscribers.
    @param require_confirmation: C{[notification] require_confirmation =
        true}: webhooks get a confirmation request (signed with the
        C{[signed_url] secret_key} written here) and nothing else until
        the subscription is confirmed.
    @param extra_config: C{{section: {option: value}}} merged over the
        generated C{zaqar.conf}.  E.g. C{keystone_stack.zaqar_keystone_config()}
        switches on C{auth_strategy = keystone} (then the readiness check
        accepts the 401 of an unauthenticated ping).
    @param tls: a L{txzaqar.testing.servers.pki.ServerTLS}: serve HTTPS
        (gunicorn mode only) with its certificate, requiring client
        certificates when it has a C{client_ca}.  L{url} is then
        C{https://127.0.0.1:PORT}.
    @param port: a fixed port instead of a free one picked at start.
    @param workers: gunicorn worker processes.
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
        websocket: bool = False,
        require_confirmation: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if tls is not None and mode != "gunicorn":
            raise ValueError("tls needs mode='gunicorn' (zaqar-server's wsgiref has no TLS)")
        super().__init__(directory)
        #: The Redis it stores messages in.
        self.redis = redis
        #: C{"gunicorn"} or C{"builtin"}.
        self.mode = mode
        #: Whether it runs with C{pooling = true}.
        self.pooling = pooling
        #: The Zaqar venv (C{None}: the default one, built if need be).
        self.venv = venv
        #: The server's name, in its file names and messages.
        self.name = name or f"zaqar-{mode}{'-pooling' if pooling else ''}-{uuid.uuid4().hex[:4]}"
        #: The C{[storage] message_pipeline}, or C{None}.
        self.message_pipeline = message_pipeline or (NOTIFIER if websocket else None)
        #: Whether webhook subscriptions must be confirmed before they get notifications.
        self.require_confirmation = require_confirmation
        #: C{{section: {option: value}}} merged over the generated C{zaqar.conf}.
        self.extra_config = extra_config or {}
        #: How many spare Redis databases L{pool_uris} offers (with I{pooling}).
        self.pool_uri_count = pool_uri_count
        #: Seconds L{start} waits for it to answer.
        self.start_timeout = start_timeout
        #: Its Redis database number, once started.
        self.dbid: int | None = None
        #: Storage URIs of spare Redis databases to register as pools (with I{pooling}), once started.
        self.pool_uris: list[str] = []
        #: Its TLS settings, or C{None} for plain HTTP.
        self.tls = tls
        #: The fixed port asked for, or C{None} for a free one.
        self.fixed_port = port
        #: Gunicorn worker processes.
        self.workers = workers
        #: Its WebSocket transport (with I{websocket}), else C{None}.
        self.websocket: ZaqarWebSocketServer | None = ZaqarWebSocketServer(self) if websocket else None

    @property
    def url(self) -> str:
        """
        Its base URL, C{http://127.0.0.1:PORT} (C{https} with I{tls}).

        @raise HarnessError: it has not been started.
        """
        if self.port is None:
            raise HarnessError(f"{self.name} has not been started")
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def websocket_url(self) -> str:
        """
        Its WebSocket transport's URL, C{ws://127.0.0.1:PORT}.

        @raise HarnessError: it has no WebSocket transport, or it has not been started.
        """
        if self.websocket is None:
            raise HarnessError(f"{self.name} has no WebSocket transport (ZaqarServer(websocket=True))")
        return self.websocket.url

    @property
    def auth_strategy(self) -> str:
        """C{""} (no auth) or C{"keystone"} (from I{extra_config})."""
        return self.extra_config.get("DEFAULT", {}).get("auth_strategy", "")

    @property
    def config_file(self) -> Path:
        """Its generated C{zaqar.conf}."""
        assert self.directory is not None
        return self.directory / "zaqar.conf"

    @property
    def log_file(self) -> Path:
        assert self.directory is not None
        return self.directory / "zaqar.log"

    def config(self) -> dict[str, dict[str, str]]:
        """
        Its C{zaqar.conf} (written at each start; its WebSocket transport
        reads it too), once its port and Redis database are known.

        @return: C{{section: {option: value}}}.
        """
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
        if self.require_confirmation:
            conf["notification"] = {"require_confirmation": "true"}
        for section, values in self.extra_config.items():
            conf.setdefault(section, {}).update(values)
        return conf

    def _sqlite_uri(self) -> str:
        assert self.directory is not None
        return f"sqlite:///{self.directory / 'management.sqlite'}"

    def _write_config(self) -> None:
        write_ini(self.config_file, self.config())

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
        """
        Start the server and block until C{/v2/ping} answers 204; then its
        WebSocket transport, if it has one and it is not running.

        @raise HarnessError: a process did not come up.
        """
        if not self.running():
            self._start_http()
        if self.websocket is not None:
            try:
                self.websocket.start()
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        """Stop its WebSocket transport (if any), then the HTTP server."""
        if self.websocket is not None:
            self.websocket.stop()
        super().stop()

    def _start_http(self) -> None:
        started = time.monotonic()
        venv = self.venv = self.venv or ensure_server_venv()
        if not self.redis.running():
            self.redis.venv = self.redis.venv or venv
            self.redis.start()
        self.ensure_directory()
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

        def spawn(port: int) -> None:
            self._write_config()
            self.spawn(self._command(venv), env=env, cwd=self.directory)

        def wait() -> None:
            try:
                wait_for_ping(self.url, self.start_timeout, alive=self.running, ok=ok, context=context)
            except HarnessError as e:
                tails = self.log_tails()
                self.stop()
                raise HarnessError(f"{self.name}: {e}\n{tails}") from None

        self.spawn_on_port(spawn, wait, self.fixed_port)
        say(f"{self.name} up at {self.url} in {time.monotonic() - started:.1f}s")


class ExternalZaqar:
    """A Zaqar that somebody else runs (C{$TXZAQAR_ZAQAR_URL})."""

    def __init__(self, url: str, pool_uris: Sequence[str] = (), websocket_url: str | None = None) -> None:
        #: Its base URL.
        self.url = url.rstrip("/")
        #: Its WebSocket transport's URL (C{$TXZAQAR_WEBSOCKET_URL}), or C{None}.
        self.websocket_url = websocket_url
        #: Storage URIs to register as pools, as given.
        self.pool_uris = list(pool_uris)
        #: Always C{None}: the process is not ours.
        self.pid = None

    def start(self) -> None:
        """
        Wait until it answers a ping (blocking); nothing is started.

        @raise HarnessError: no answer within 10 seconds.
        """
        wait_for_ping(self.url, timeout=10)

    def stop(self) -> None:
        """Nothing: somebody else runs it."""
        pass

    def running(self) -> bool:
        """Whether it answers a ping."""
        return ping(self.url) == 204

