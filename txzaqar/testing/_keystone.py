"""
Real Keystone for tests, and a Zaqar that authenticates against it.

Keystone (PyPI ``keystone==30.*``) gets its own virtualenv, like Zaqar's
(``<state>/keystone-venv``, see :func:`ensure_keystone_venv`), and runs on
SQLite with fernet tokens, an in-process cache and cheap bcrypt
(``password_hash_rounds = 4``), served by a threaded ``wsgiref`` server in
ONE process (the cache is per process) that runs requests which may write
(anything but GET/HEAD: logins write too) one at a time, since concurrent
SQLite writers deadlock into 500s.  Settings and pitfalls:
``shared/reference/real-servers.md`` sections 1 and 2.

Start-up cost is kept down in two ways:

* ``keystone-manage db_sync`` + ``bootstrap`` run once per state directory,
  into a template database (``<state>/keystone-template``) that every
  :class:`KeystoneServer` copies; the identity endpoints that bootstrap
  registered with a placeholder URL are then pointed at the real server
  through the API.
* the fernet, receipt and credential key repositories are written directly
  (two fresh ``Fernet.generate_key()`` keys each, exactly what
  ``keystone-manage fernet_setup`` writes), so every Keystone has its own keys
  and never accepts another one's tokens.

After start, :class:`KeystoneServer` holds (all in domain ``default``):

=========  ================  =========  ===============
user       password          project    roles
=========  ================  =========  ===============
admin      admin-secret      admin      admin (+ system)
zaqar      zaqar-secret      service    service, admin
demo       demo-secret       demo       member
alt        alt-secret        alt        member
=========  ================  =========  ===============

and :meth:`KeystoneServer.register_messaging` adds the ``messaging``
service with public/internal/admin endpoints in ``RegionOne``.

:class:`KeystoneStack` is Keystone + a Zaqar with ``auth_strategy =
keystone`` (``token_cache_time = -1``, so revocation takes effect at once)
registered in its catalog; :func:`shared_keystone_stack` caches one per
``token_ttl`` per process::

    def setUp(self):
        self.stack = shared_keystone_stack()           # 1-hour tokens
        # self.stack.keystone.url  -> "http://127.0.0.1:PORT/v3"
        # self.stack.zaqar.url     -> "http://127.0.0.1:PORT2"
        # self.stack.credentials.demo.auth_kwargs(self.stack.keystone.url)
        #   -> kwargs for keystoneauth1.identity.v3.Password

Only the standard library is used in the calling process.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txzaqar.testing._harness import (
    _MARKER,
    HarnessError,
    RedisServer,
    ServerTLS,
    ZaqarServer,
    _ensure_venv,
    _FileLock,
    _run_logged,
    _say,
    _Server,
    _shared_lock,
    _stop_hooks,
    _tail,
    _wait_until,
    ensure_server_venv,
    free_port,
    shared_pki,
    shared_redis,
    state_dir,
)

__all__ = [
    "KEYSTONE_REQUIREMENTS",
    "KeystoneCredentials",
    "KeystoneServer",
    "KeystoneStack",
    "KeystoneUser",
    "ensure_keystone_template",
    "ensure_keystone_venv",
    "shared_keystone_stack",
    "zaqar_keystone_config",
]

#: What goes into the Keystone virtualenv.
KEYSTONE_REQUIREMENTS: tuple[str, ...] = ("keystone==30.*",)
KEYSTONE_EXECUTABLES: tuple[str, ...] = ("python", "keystone-manage")
#: Bump when the template database's contents change.
_TEMPLATE_FORMAT = 1
_PLACEHOLDER_URL = "http://127.0.0.1:9/v3/"
REGION = "RegionOne"


@dataclass(frozen=True)
class KeystoneUser:
    """A user with a password, scoped to one project (all in domain ``default``)."""

    username: str
    password: str
    project_name: str
    user_domain_id: str = "default"
    project_domain_id: str = "default"

    def __repr__(self) -> str:
        return f"KeystoneUser({self.username!r}, project={self.project_name!r}, password=<hidden>)"

    def auth_kwargs(self, auth_url: str) -> dict[str, str]:
        """Keyword arguments for ``keystoneauth1.identity.v3.Password``."""
        return {
            "auth_url": auth_url,
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_id": self.user_domain_id,
            "project_domain_id": self.project_domain_id,
        }

    def os_env(self, auth_url: str, region: str = REGION) -> dict[str, str]:
        """The ``OS_*`` environment variables OpenStack tools read for this user."""
        return {
            "OS_AUTH_TYPE": "password",
            "OS_AUTH_URL": auth_url,
            "OS_USERNAME": self.username,
            "OS_PASSWORD": self.password,
            "OS_PROJECT_NAME": self.project_name,
            "OS_USER_DOMAIN_ID": self.user_domain_id,
            "OS_PROJECT_DOMAIN_ID": self.project_domain_id,
            "OS_REGION_NAME": region,
            "OS_IDENTITY_API_VERSION": "3",
        }

    def auth_body(self, scope: str = "project") -> dict[str, Any]:
        """A ``POST /v3/auth/tokens`` body (``scope``: "project" or "system")."""
        auth: dict[str, Any] = {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": self.username,
                        "domain": {"id": self.user_domain_id},
                        "password": self.password,
                    }
                },
            }
        }
        if scope == "system":
            auth["scope"] = {"system": {"all": True}}
        else:
            auth["scope"] = {"project": {"name": self.project_name, "domain": {"id": self.project_domain_id}}}
        return {"auth": auth}


@dataclass(frozen=True)
class KeystoneCredentials:
    """Everybody a :class:`KeystoneServer` knows, and where."""

    auth_url: str
    region: str
    admin: KeystoneUser
    service: KeystoneUser  # Zaqar's own service user
    demo: KeystoneUser
    alt: KeystoneUser

    def user(self, name: str) -> KeystoneUser:
        for u in (self.admin, self.service, self.demo, self.alt):
            if u.username == name:
                return u
        raise KeyError(name)


ADMIN = KeystoneUser("admin", "admin-secret", "admin")
SERVICE = KeystoneUser("zaqar", "zaqar-secret", "service")
DEMO = KeystoneUser("demo", "demo-secret", "demo")
ALT = KeystoneUser("alt", "alt-secret", "alt")
#: (user, roles) created in every Keystone after start
_USERS: tuple[tuple[KeystoneUser, tuple[str, ...]], ...] = (
    (SERVICE, ("service", "admin")),
    (DEMO, ("member",)),
    (ALT, ("member",)),
)


# ---------------------------------------------------------------------------
# venv and template database
# ---------------------------------------------------------------------------


def ensure_keystone_venv(
    directory: Path | str | None = None,
    requirements: Sequence[str] = KEYSTONE_REQUIREMENTS,
) -> Path:
    """
    Make sure the Keystone virtualenv (default ``<state>/keystone-venv``)
    exists and is complete; build it if not (about 25 s, all wheels).  Same
    marker-file and file-lock rules as
    :func:`~txzaqar.testing._harness.ensure_server_venv`.
    """
    venv = Path(directory) if directory is not None else state_dir() / "keystone-venv"
    return _ensure_venv(venv, ("setuptools", *requirements), KEYSTONE_EXECUTABLES, "Keystone")


def _fernet_key() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(32))


def _write_key_repositories(home: Path) -> dict[str, Path]:
    """Write fresh fernet/receipt/credential keys (what keystone-manage *_setup does)."""
    repos = {}
    for name in ("fernet-keys", "receipt-keys", "credential-keys"):
        repo = home / name
        if repo.exists():
            shutil.rmtree(repo)
        repo.mkdir(mode=0o700)
        for index in ("0", "1"):  # 0 = staged, highest = primary
            path = repo / index
            path.write_bytes(_fernet_key())
            path.chmod(0o600)
        repos[name] = repo
    return repos


def _keystone_conf(home: Path, db: Path, token_ttl: int, log_file: Path, repos: dict[str, Path]) -> str:
    return f"""\
[DEFAULT]
debug = false
log_file = {log_file}
[oslo_messaging_notifications]
driver = noop
[database]
connection = sqlite:///{db}
[token]
provider = fernet
expiration = {int(token_ttl)}
[fernet_tokens]
key_repository = {repos["fernet-keys"]}/
[fernet_receipts]
key_repository = {repos["receipt-keys"]}/
[credential]
key_repository = {repos["credential-keys"]}/
[identity]
password_hash_rounds = 4
[cache]
enabled = true
backend = dogpile.cache.memory
"""


def _template_marker(venv: Path) -> str:
    try:
        venv_marker = (venv / _MARKER).read_text()
    except OSError:
        venv_marker = ""
    return json.dumps({"format": _TEMPLATE_FORMAT, "venv": venv_marker}, sort_keys=True)


def ensure_keystone_template(venv: Path | None = None) -> Path:
    """
    The template SQLite database (``db_sync`` + ``bootstrap`` done, admin
    password ``admin-secret``), built once per state directory and Keystone
    venv.  Returns its path; :class:`KeystoneServer` copies it.
    """
    venv = venv or ensure_keystone_venv()
    directory = state_dir() / "keystone-template"
    db = directory / "keystone.db"
    marker = directory / "marker.json"

    def complete() -> bool:
        try:
            return db.exists() and marker.read_text() == _template_marker(venv)
        except OSError:
            return False

    if complete():
        return db
    with _FileLock(state_dir() / ".keystone-template.lock"):
        if complete():
            return db
        started = time.monotonic()
        if directory.exists():
            shutil.rmtree(directory)
        work = directory.with_name(f"keystone-template.tmp-{os.getpid()}")
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        repos = _write_key_repositories(work)
        conf = work / "keystone.conf"
        conf.write_text(_keystone_conf(work, work / "keystone.db", 3600, work / "keystone.log", repos))
        manage = [str(venv / "bin" / "keystone-manage"), "--config-file", str(conf)]
        env_cmd = ["env", "PYTHONWARNINGS=ignore"]
        log_path = work / "setup.log"
        with open(log_path, "w") as log:
            _run_logged([*env_cmd, *manage, "db_sync"], log, "keystone-manage db_sync")
            _run_logged(
                [
                    *env_cmd,
                    *manage,
                    "bootstrap",
                    "--bootstrap-password",
                    ADMIN.password,
                    "--bootstrap-username",
                    ADMIN.username,
                    "--bootstrap-project-name",
                    ADMIN.project_name,
                    "--bootstrap-role-name",
                    "admin",
                    "--bootstrap-service-name",
                    "keystone",
                    "--bootstrap-region-id",
                    REGION,
                    "--bootstrap-admin-url",
                    _PLACEHOLDER_URL,
                    "--bootstrap-internal-url",
                    _PLACEHOLDER_URL,
                    "--bootstrap-public-url",
                    _PLACEHOLDER_URL,
                ],
                log,
                "keystone-manage bootstrap",
            )
        (work / "marker.json").write_text(_template_marker(venv))
        os.rename(work, directory)
        _say(f"keystone template database ready in {time.monotonic() - started:.1f}s")
    return db


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------

_RUNNER = '''\
"""Serve Keystone (config from $OS_KEYSTONE_CONFIG_FILES) with a threaded
wsgiref server in one process.  Written by txzaqar.testing._keystone.

    python keystone_serve.py HOST PORT
"""
import os
import signal
import ssl
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

host, port = sys.argv[1], int(sys.argv[2])
# oslo.config would otherwise parse our own command line (real-servers.md 1.1)
sys.argv = sys.argv[:1]


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128
    ssl_context = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # handshake on first read, in the handler thread
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr


class Handler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, OSError):
            pass



# Every password login writes (last_active_at), and two SQLite write
# transactions that both read first deadlock: one fails at once with
# "database is locked" (a 500), whatever the busy timeout.  Requests that
# may write go one at a time; GET/HEAD (token validation) stay concurrent.
_writes = threading.Lock()


def one_writer_at_a_time(app):
    def serve(environ, start_response):
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return app(environ, start_response)
        with _writes:
            return list(app(environ, start_response))

    return serve


signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
# bind before the (slow) app import: a busy port fails at once
httpd = Server((host, port), Handler)
cert = os.environ.get("TXZAQAR_KS_TLS_CERT")
if cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, os.environ["TXZAQAR_KS_TLS_KEY"])
    httpd.ssl_context = ctx

from keystone.server import wsgi  # noqa: E402

httpd.set_app(one_writer_at_a_time(wsgi.initialize_public_application()))
print(f"keystone serving on {host}:{port}", flush=True)
httpd.serve_forever()
'''


class KeystoneServer(_Server):
    """
    A Keystone on a loopback port, set up and with the users in the module
    docstring once :meth:`start` returns.

    :param token_ttl: ``[token] expiration`` in seconds (5 works; fernet
        timestamps are whole seconds, so a 5 s token lives 4-5 s).
    :param port: a fixed port (default: a free one, chosen in :meth:`start`
        or up front with :meth:`choose_port`).
    :param tls: a :class:`~txzaqar.testing._tls.ServerTLS` to serve HTTPS
        (client certificates are not supported here).
    """

    def __init__(
        self,
        token_ttl: int = 3600,
        *,
        venv: Path | None = None,
        name: str | None = None,
        directory: Path | None = None,
        port: int | None = None,
        tls: ServerTLS | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__(directory)
        if tls is not None and tls.client_ca is not None:
            raise ValueError("KeystoneServer does not support client certificates")
        self.token_ttl = token_ttl
        self.venv = venv
        self.name = name or f"keystone-ttl{token_ttl}-{uuid.uuid4().hex[:4]}"
        self.port = port
        self.tls = tls
        self.start_timeout = start_timeout
        self._admin_token: tuple[str, float] | None = None
        self._ids: dict[str, str] = {}
        self._set_up = False
        self._repos: dict[str, Path] = {}

    # -- addresses ---------------------------------------------------------

    def choose_port(self) -> int:
        """Fix the port now (before :meth:`start`), so its URL can go into other configs."""
        if self.port is None:
            self.port = free_port()
        return self.port

    @property
    def url(self) -> str:
        """The identity v3 URL, e.g. ``http://127.0.0.1:PORT/v3``."""
        if self.port is None:
            raise HarnessError(f"{self.name}: no port yet (start() or choose_port())")
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v3"

    @property
    def credentials(self) -> KeystoneCredentials:
        return KeystoneCredentials(self.url, REGION, ADMIN, SERVICE, DEMO, ALT)

    @property
    def config_file(self) -> Path:
        assert self.directory is not None
        return self.directory / "keystone.conf"

    @property
    def log_file(self) -> Path:
        assert self.directory is not None
        return self.directory / "keystone.log"

    def _log_tails(self) -> str:
        return super()._log_tails() + f"\n--- tail of {self.log_file} ---\n{_tail(self.log_file)}"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """
        Set up, serve, wait for ``GET /v3``, then create projects and users.

        After :meth:`stop`, ``start()`` serves the *same* database and keys
        on the same port again (same users, project ids and valid tokens;
        only the in-memory cache is lost): ``stop()``/``start()`` simulates
        a Keystone outage.
        """
        if self.running():
            return
        started = time.monotonic()
        venv = self.venv = self.venv or ensure_keystone_venv()
        home = self._ensure_directory()
        db = home / "keystone.db"
        restart = self._set_up
        if not restart:
            shutil.copyfile(ensure_keystone_template(venv), db)
            self._repos = _write_key_repositories(home)
            (home / "keystone_serve.py").write_text(_RUNNER)
        repos = self._repos
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env["PYTHONWARNINGS"] = "ignore"
        env["OS_KEYSTONE_CONFIG_FILES"] = str(self.config_file)
        if self.tls is not None:
            env["TXZAQAR_KS_TLS_CERT"] = str(self.tls.certfile)
            env["TXZAQAR_KS_TLS_KEY"] = str(self.tls.keyfile)
        fixed = self.port
        for attempt in range(3):
            self.port = fixed or free_port()
            if not restart:
                self.config_file.write_text(_keystone_conf(home, db, self.token_ttl, self.log_file, repos))
            self._spawn(
                [str(venv / "bin" / "python"), str(home / "keystone_serve.py"), "127.0.0.1", str(self.port)],
                env=env,
                cwd=home,
            )
            if _wait_until(lambda: self._versions_ok() or not self.running(), self.start_timeout, 0.1):
                if self.running():
                    break
                out = self.output_file.read_text(errors="replace")
                if "in use" not in out or attempt == 2 or fixed:
                    self._check_alive("during startup")
                self.stop()
                continue
            tails = self._log_tails()
            self.stop()
            raise HarnessError(
                f"{self.name}: GET {self.url} did not answer within {self.start_timeout}s\n{tails}"
            )
        if restart:
            _say(f"{self.name} restarted at {self.url} in {time.monotonic() - started:.1f}s")
            return
        try:
            self._set_up_identity()
            self._set_up = True
        except BaseException:
            _say(f"{self.name} setup failed; logs:\n{self._log_tails()}")
            self.stop()
            raise
        _say(f"{self.name} up at {self.url} in {time.monotonic() - started:.1f}s")

    def _ssl_context(self) -> ssl.SSLContext | None:
        return self.tls.client_context() if self.tls is not None else None

    def _versions_ok(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2, context=self._ssl_context()) as resp:
                return resp.status == 200
        except (OSError, ValueError):
            return False

    # -- API ---------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """
        One call to the identity API (*path* relative to :attr:`url`, e.g.
        ``"/projects"``).  Returns ``(status, headers, parsed JSON or None)``;
        HTTP errors are returned, not raised.
        """
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        if token is not None:
            req.add_header("X-Auth-Token", token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._ssl_context()) as resp:
                raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
        except urllib.error.HTTPError as e:
            raw, status, hdrs = e.read(), e.code, dict(e.headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return status, hdrs, parsed

    def _ok(self, method: str, path: str, body: Any = None, *, expect: Sequence[int], **kw: Any) -> Any:
        status, _, parsed = self.request(method, path, body, **kw)
        if status not in expect:
            raise HarnessError(f"{self.name}: {method} {path} -> {status} {parsed}")
        return parsed

    def token(
        self, user: KeystoneUser | str = "demo", *, scope: str = "project"
    ) -> tuple[str, dict[str, Any]]:
        """Authenticate *user* by password: ``(token, token body)`` (body has the catalog)."""
        if isinstance(user, str):
            user = self.credentials.user(user)
        status, hdrs, body = self.request("POST", "/auth/tokens", user.auth_body(scope))
        if status != 201:
            raise HarnessError(f"{self.name}: token for {user.username} -> {status} {body}")
        return hdrs["X-Subject-Token"], body["token"]

    def admin_token(self) -> str:
        """A system-scoped admin token (cached while it has over 2 s left, or 60 s for long TTLs)."""
        margin = min(60.0, self.token_ttl / 2)
        cached = self._admin_token
        if cached is not None and cached[1] - time.monotonic() > margin:
            return cached[0]
        t0 = time.monotonic()
        token, _ = self.token(ADMIN, scope="system")
        self._admin_token = (token, t0 + self.token_ttl - 1)
        return token

    def revoke(self, token: str) -> None:
        """Revoke *token* (``DELETE /v3/auth/tokens``, as admin)."""
        self._ok(
            "DELETE",
            "/auth/tokens",
            token=self.admin_token(),
            headers={"X-Subject-Token": token},
            expect=(204,),
        )

    def validate(self, token: str) -> int:
        """``GET /v3/auth/tokens`` for *token*: 200 when valid, 404 when not."""
        status, _, _ = self.request(
            "GET", "/auth/tokens", token=self.admin_token(), headers={"X-Subject-Token": token}
        )
        return status

    def _set_up_identity(self) -> None:
        t = self.admin_token()
        # bootstrap registered the identity endpoints with a placeholder URL
        for ep in self._ok("GET", "/endpoints", token=t, expect=(200,))["endpoints"]:
            if ep["url"] == _PLACEHOLDER_URL:
                self._ok(
                    "PATCH",
                    f"/endpoints/{ep['id']}",
                    {"endpoint": {"url": self.url + "/"}},
                    token=t,
                    expect=(200,),
                )
        roles = {r["name"]: r["id"] for r in self._ok("GET", "/roles", token=t, expect=(200,))["roles"]}
        for user, user_roles in _USERS:
            project = self._ok(
                "POST",
                "/projects",
                {"project": {"name": user.project_name, "domain_id": user.project_domain_id}},
                token=t,
                expect=(201,),
            )["project"]
            created = self._ok(
                "POST",
                "/users",
                {
                    "user": {
                        "name": user.username,
                        "password": user.password,
                        "domain_id": user.user_domain_id,
                        "default_project_id": project["id"],
                    }
                },
                token=t,
                expect=(201,),
            )["user"]
            self._ids[f"project:{user.project_name}"] = project["id"]
            self._ids[f"user:{user.username}"] = created["id"]
            for role in user_roles:
                self._ok(
                    "PUT",
                    f"/projects/{project['id']}/users/{created['id']}/roles/{roles[role]}",
                    token=t,
                    expect=(204,),
                )

    def project_id(self, name: str) -> str:
        """The id of project *name* (``service``, ``demo``, ``alt``)."""
        return self._ids[f"project:{name}"]

    def user_id(self, name: str) -> str:
        return self._ids[f"user:{name}"]

    def register_service(
        self,
        service_type: str,
        url: str,
        *,
        name: str | None = None,
        region: str = REGION,
        interfaces: Sequence[str] = ("public", "internal", "admin"),
    ) -> str:
        """
        Register (or re-point) a service with one endpoint per interface,
        all at *url*.  Returns the service id.
        """
        t = self.admin_token()
        services = self._ok("GET", f"/services?type={service_type}", token=t, expect=(200,))["services"]
        if services:
            service_id = services[0]["id"]
        else:
            service_id = self._ok(
                "POST",
                "/services",
                {"service": {"type": service_type, "name": name or service_type, "enabled": True}},
                token=t,
                expect=(201,),
            )["service"]["id"]
        existing = {
            ep["interface"]: ep
            for ep in self._ok("GET", f"/endpoints?service_id={service_id}", token=t, expect=(200,))[
                "endpoints"
            ]
        }
        for interface in interfaces:
            if interface in existing:
                self._ok(
                    "PATCH",
                    f"/endpoints/{existing[interface]['id']}",
                    {"endpoint": {"url": url, "region_id": region}},
                    token=t,
                    expect=(200,),
                )
            else:
                self._ok(
                    "POST",
                    "/endpoints",
                    {
                        "endpoint": {
                            "service_id": service_id,
                            "interface": interface,
                            "url": url,
                            "region_id": region,
                            "enabled": True,
                        }
                    },
                    token=t,
                    expect=(201,),
                )
        return service_id

    def register_messaging(self, url: str, websocket_url: str | None = None) -> None:
        """The ``messaging`` service (name ``zaqar``) at *url*; optionally ``messaging-websocket``."""
        self.register_service("messaging", url, name="zaqar")
        if websocket_url:
            self.register_service("messaging-websocket", websocket_url, name="zaqar-websocket")


def zaqar_keystone_config(keystone: KeystoneServer, token_cache_time: int = -1) -> dict[str, dict[str, str]]:
    """
    ``ZaqarServer(extra_config=...)`` for ``auth_strategy = keystone`` against
    *keystone* (its port must be known: started, or :meth:`~KeystoneServer.choose_port`).
    ``token_cache_time = -1`` disables keystonemiddleware's token cache, so
    a revoked token is refused at once (with the default 300 it is not).
    """
    auth = {
        "www_authenticate_uri": keystone.url,
        "auth_url": keystone.url,
        "auth_type": "password",
        "username": SERVICE.username,
        "password": SERVICE.password,
        "project_name": SERVICE.project_name,
        "user_domain_id": SERVICE.user_domain_id,
        "project_domain_id": SERVICE.project_domain_id,
        "interface": "public",
        "region_name": REGION,
        "token_cache_time": str(token_cache_time),
    }
    if keystone.tls is not None:
        auth["cafile"] = str(keystone.tls.ca)
    return {"DEFAULT": {"auth_strategy": "keystone"}, "keystone_authtoken": auth}


# ---------------------------------------------------------------------------
# Keystone + Zaqar
# ---------------------------------------------------------------------------


class KeystoneStack:
    """
    A :class:`KeystoneServer` plus a Zaqar with ``auth_strategy = keystone``
    against it (on its own Redis database), registered in the catalog as
    service type ``messaging``.

    :param redis: where Zaqar stores messages (default: the shared Redis).
    :param zaqar_tls: serve Zaqar over HTTPS.
    :param keystone_tls: serve Keystone over HTTPS (Zaqar then trusts its CA).
    """

    def __init__(
        self,
        token_ttl: int = 3600,
        *,
        redis: RedisServer | None = None,
        mode: str = "gunicorn",
        token_cache_time: int = -1,
        zaqar_tls: ServerTLS | None = None,
        keystone_tls: ServerTLS | None = None,
        venv: Path | None = None,
        keystone_venv: Path | None = None,
    ) -> None:
        self.token_ttl = token_ttl
        self.redis = redis
        self.mode = mode
        self.token_cache_time = token_cache_time
        self.zaqar_tls = zaqar_tls
        self.keystone = KeystoneServer(token_ttl, venv=keystone_venv, tls=keystone_tls)
        self._zaqar: ZaqarServer | None = None
        self._venv = venv

    @property
    def zaqar(self) -> ZaqarServer:
        """The Zaqar server (exists once :meth:`start` has been called)."""
        if self._zaqar is None:
            raise HarnessError("KeystoneStack has not been started")
        return self._zaqar

    @property
    def credentials(self) -> KeystoneCredentials:
        return self.keystone.credentials

    @property
    def zaqar_url(self) -> str:
        return self.zaqar.url

    def start(self) -> None:
        started = time.monotonic()
        try:
            # build both venvs at once when neither exists yet
            _prepare_in_parallel(self._venv, self.keystone.venv)
            redis = self.redis = self.redis or shared_redis()
            self.keystone.start()
            self._zaqar = ZaqarServer(
                redis,
                mode=self.mode,
                venv=self._venv,
                tls=self.zaqar_tls,
                name=f"zaqar-ks-ttl{self.token_ttl}-{uuid.uuid4().hex[:4]}",
                extra_config=zaqar_keystone_config(self.keystone, self.token_cache_time),
            )
            self.zaqar.start()
            self.keystone.register_messaging(self.zaqar.url)
        except BaseException:
            self.stop()
            raise
        _say(f"keystone stack (ttl {self.token_ttl}) up in {time.monotonic() - started:.1f}s")

    def stop(self) -> None:
        for server in (self._zaqar, self.keystone):
            if server is not None:
                server.stop()

    def running(self) -> bool:
        return (
            self.keystone.running()
            and self._zaqar is not None
            and self._zaqar.running()
            and (self.redis is None or self.redis.running())
        )

    def __enter__(self) -> KeystoneStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Variables describing this stack (for the CLI)."""
        return {
            "TXZAQAR_KEYSTONE_URL": self.keystone.url,
            "TXZAQAR_KEYSTONE_ZAQAR_URL": self.zaqar_url,
        }


def _prepare_in_parallel(venv: Path | None = None, keystone_venv: Path | None = None) -> tuple[Path, Path]:
    """Build the Zaqar venv and the Keystone venv + template concurrently."""
    results: dict[str, Any] = {}

    def keystone() -> None:
        try:
            kv = ensure_keystone_venv(keystone_venv)
            ensure_keystone_template(kv)
            results["keystone"] = kv
        except BaseException as e:  # noqa: BLE001 - re-raised below
            results["keystone_error"] = e

    thread = threading.Thread(target=keystone, name="keystone-venv")
    thread.start()
    try:
        zv = ensure_server_venv(venv)
    finally:
        thread.join()
    if "keystone_error" in results:
        raise results["keystone_error"]
    return zv, results["keystone"]


_shared_stacks: dict[tuple[int, str, bool], KeystoneStack] = {}


def shared_keystone_stack(token_ttl: int = 3600, mode: str = "gunicorn", tls: bool = False) -> KeystoneStack:
    """
    A running :class:`KeystoneStack` for this process, started (blocking)
    on first use and cached per (*token_ttl*, *mode*, *tls*); call it from
    ``setUp``.  Each stack has its own Keystone (own database and keys) and
    its own Zaqar on its own database of the shared Redis.  With *tls*,
    Keystone and Zaqar both serve HTTPS with the ``127.0.0.1``/``localhost``
    certificate of :func:`~txzaqar.testing._harness.shared_pki` (trust
    ``shared_pki().ca_cert``); no client certificates.
    """
    key = (token_ttl, mode, tls)
    with _shared_lock:
        stack = _shared_stacks.get(key)
        if stack is not None and stack.running():
            return stack
        if stack is not None:
            stack.stop()
        server_tls = shared_pki().server_tls() if tls else None
        stack = KeystoneStack(token_ttl, mode=mode, zaqar_tls=server_tls, keystone_tls=server_tls)
        stack.start()
        _shared_stacks[key] = stack
        return stack


_stop_hooks.append(_shared_stacks.clear)
