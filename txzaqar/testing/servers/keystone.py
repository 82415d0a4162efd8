"""
A real Keystone for tests (L{KeystoneServer}).

It runs on SQLite with fernet tokens, an in-process cache and cheap bcrypt
(C{password_hash_rounds = 4}), served by a threaded C{wsgiref} server in
ONE process (the cache is per process) that runs requests which may write
(anything but GET/HEAD: logins write too) one at a time, since concurrent
SQLite writers deadlock into 500s.  Settings and pitfalls:
C{shared/reference/real-servers.md} sections 1 and 2.  Its venv and template
database come from L{txzaqar.testing.servers.keystone_install}; its users
are those of L{txzaqar.testing.servers.keystone_users}.

L{KeystoneServer.register_messaging} adds the C{messaging} service with
public/internal/admin endpoints in C{RegionOne}.  A Zaqar that
authenticates against it is L{txzaqar.testing.servers.keystone_stack}.

Only the standard library is used in the calling process.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import HarnessError, free_port, say, wait_until
from .keystone_install import (
    PLACEHOLDER_URL,
    ensure_keystone_template,
    ensure_keystone_venv,
    keystone_conf,
    write_key_repositories,
)
from .keystone_users import ADMIN, ALT, DEMO, REGION, SERVICE, USERS, KeystoneCredentials, KeystoneUser
from .pki import ServerTLS
from .process import ServerProcess

__all__ = ["KeystoneServer"]

_RUNNER = '''\
"""Serve Keystone (config from $OS_KEYSTONE_CONFIG_FILES) with a threaded
wsgiref server in one process.  Written by txzaqar.testing.servers.keystone.

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


class KeystoneServer(ServerProcess):
    """
    A Keystone on a loopback port, set up and with the users of
    L{txzaqar.testing.servers.keystone_users} once L{start} returns.

    @param token_ttl: C{[token] expiration} in seconds (5 works; fernet
        timestamps are whole seconds, so a 5 s token lives 4-5 s).
    @param port: a fixed port (default: a free one, chosen in L{start}
        or up front with L{choose_port}).
    @param tls: a L{txzaqar.testing.servers.pki.ServerTLS} to serve HTTPS
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
        #: C{[token] expiration}, in seconds.
        self.token_ttl = token_ttl
        #: The Keystone venv (C{None}: the default one, built if need be).
        self.venv = venv
        #: The server's name, in its file names and messages.
        self.name = name or f"keystone-ttl{token_ttl}-{uuid.uuid4().hex[:4]}"
        #: Its port, once chosen (C{None} before).
        self.port = port
        #: Its TLS settings, or C{None} for plain HTTP.
        self.tls = tls
        #: Seconds L{start} waits for it to answer.
        self.start_timeout = start_timeout
        self._admin_token: tuple[str, float] | None = None
        self._ids: dict[str, str] = {}
        self._set_up = False
        self._repos: dict[str, Path] = {}

    # -- addresses ---------------------------------------------------------

    def choose_port(self) -> int:
        """Fix the port now (before L{start}), so its URL can go into other configs."""
        if self.port is None:
            self.port = free_port()
        return self.port

    @property
    def url(self) -> str:
        """The identity v3 URL, e.g. C{http://127.0.0.1:PORT/v3}."""
        if self.port is None:
            raise HarnessError(f"{self.name}: no port yet (start() or choose_port())")
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v3"

    @property
    def credentials(self) -> KeystoneCredentials:
        """Everybody it knows (the users of L{txzaqar.testing.servers.keystone_users}) and its URL."""
        return KeystoneCredentials(self.url, REGION, ADMIN, SERVICE, DEMO, ALT)

    @property
    def config_file(self) -> Path:
        """Its C{keystone.conf}."""
        assert self.directory is not None
        return self.directory / "keystone.conf"

    @property
    def log_file(self) -> Path:
        assert self.directory is not None
        return self.directory / "keystone.log"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """
        Set up, serve, wait for C{GET /v3}, then create projects and users.

        After C{stop()}, C{start()} serves the I{same} database and keys
        on the same port again (same users, project ids and valid tokens;
        only the in-memory cache is lost): C{stop()}/C{start()} simulates
        a Keystone outage.
        """
        if self.running():
            return
        started = time.monotonic()
        venv = self.venv = self.venv or ensure_keystone_venv()
        home = self.ensure_directory()
        db = home / "keystone.db"
        restart = self._set_up
        if not restart:
            shutil.copyfile(ensure_keystone_template(venv), db)
            self._repos = write_key_repositories(home)
            (home / "keystone_serve.py").write_text(_RUNNER)
        repos = self._repos
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env["PYTHONWARNINGS"] = "ignore"
        env["OS_KEYSTONE_CONFIG_FILES"] = str(self.config_file)
        if self.tls is not None:
            env["TXZAQAR_KS_TLS_CERT"] = str(self.tls.certfile)
            env["TXZAQAR_KS_TLS_KEY"] = str(self.tls.keyfile)

        def spawn(port: int) -> None:
            if not restart:
                self.config_file.write_text(keystone_conf(home, db, self.token_ttl, self.log_file, repos))
            self.spawn(
                [str(venv / "bin" / "python"), str(home / "keystone_serve.py"), "127.0.0.1", str(port)],
                env=env,
                cwd=home,
            )

        def wait() -> None:
            if not wait_until(lambda: self._versions_ok() or not self.running(), self.start_timeout, 0.1):
                tails = self.log_tails()
                self.stop()
                raise HarnessError(
                    f"{self.name}: GET {self.url} did not answer within {self.start_timeout}s\n{tails}"
                )

        # a restart (or choose_port()) keeps the port
        self.spawn_on_port(spawn, wait, self.port)
        if restart:
            say(f"{self.name} restarted at {self.url} in {time.monotonic() - started:.1f}s")
            return
        try:
            self._set_up_identity()
            self._set_up = True
        except BaseException:
            say(f"{self.name} setup failed; logs:\n{self.log_tails()}")
            self.stop()
            raise
        say(f"{self.name} up at {self.url} in {time.monotonic() - started:.1f}s")

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
        One call to the identity API (I{path} relative to L{url}, e.g.
        C{"/projects"}).  Returns C{(status, headers, parsed JSON or None)};
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
        """Authenticate I{user} by password: C{(token, token body)} (body has the catalog)."""
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
        """Revoke I{token} (C{DELETE /v3/auth/tokens}, as admin)."""
        self._ok(
            "DELETE",
            "/auth/tokens",
            token=self.admin_token(),
            headers={"X-Subject-Token": token},
            expect=(204,),
        )

    def validate(self, token: str) -> int:
        """C{GET /v3/auth/tokens} for I{token}: 200 when valid, 404 when not."""
        status, _, _ = self.request(
            "GET", "/auth/tokens", token=self.admin_token(), headers={"X-Subject-Token": token}
        )
        return status

    def _set_up_identity(self) -> None:
        # a fresh admin token per request: with short token TTLs (5 s) a
        # slow machine outlives one token during this set-up
        # bootstrap registered the identity endpoints with a placeholder URL
        for ep in self._ok("GET", "/endpoints", token=self.admin_token(), expect=(200,))["endpoints"]:
            if ep["url"] == PLACEHOLDER_URL:
                self._ok(
                    "PATCH",
                    f"/endpoints/{ep['id']}",
                    {"endpoint": {"url": self.url + "/"}},
                    token=self.admin_token(),
                    expect=(200,),
                )
        roles = {
            r["name"]: r["id"]
            for r in self._ok("GET", "/roles", token=self.admin_token(), expect=(200,))["roles"]
        }
        for user, user_roles in USERS:
            project = self._ok(
                "POST",
                "/projects",
                {"project": {"name": user.project_name, "domain_id": user.project_domain_id}},
                token=self.admin_token(),
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
                token=self.admin_token(),
                expect=(201,),
            )["user"]
            self._ids[f"project:{user.project_name}"] = project["id"]
            self._ids[f"user:{user.username}"] = created["id"]
            for role in user_roles:
                self._ok(
                    "PUT",
                    f"/projects/{project['id']}/users/{created['id']}/roles/{roles[role]}",
                    token=self.admin_token(),
                    expect=(204,),
                )

    def project_id(self, name: str) -> str:
        """The id of project I{name} (C{service}, C{demo}, C{alt})."""
        return self._ids[f"project:{name}"]

    def user_id(self, name: str) -> str:
        """
        The id of the user called C{name}, as this Keystone made it.

        @raise KeyError: no such user was set up.
        """
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
        all at I{url}.  Returns the service id.
        """
        services = self._ok("GET", f"/services?type={service_type}", token=self.admin_token(), expect=(200,))[
            "services"
        ]
        if services:
            service_id = services[0]["id"]
        else:
            service_id = self._ok(
                "POST",
                "/services",
                {"service": {"type": service_type, "name": name or service_type, "enabled": True}},
                token=self.admin_token(),
                expect=(201,),
            )["service"]["id"]
        existing = {
            ep["interface"]: ep
            for ep in self._ok(
                "GET", f"/endpoints?service_id={service_id}", token=self.admin_token(), expect=(200,)
            )["endpoints"]
        }
        for interface in interfaces:
            if interface in existing:
                self._ok(
                    "PATCH",
                    f"/endpoints/{existing[interface]['id']}",
                    {"endpoint": {"url": url, "region_id": region}},
                    token=self.admin_token(),
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
                    token=self.admin_token(),
                    expect=(201,),
                )
        return service_id

    def register_messaging(self, url: str, websocket_url: str | None = None) -> None:
        """The C{messaging} service (name C{zaqar}) at I{url}; optionally C{messaging-websocket}."""
        self.register_service("messaging", url, name="zaqar")
        if websocket_url:
            self.register_service("messaging-websocket", websocket_url, name="zaqar-websocket")
