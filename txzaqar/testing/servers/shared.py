"""
Servers shared by a test process, and servers started together.

Trial does not call C{setUpClass}; the C{shared_*} functions start their
server on first use and return the same one afterwards, so calling them in
C{setUp} only costs the first time::

    class MyTests(unittest.TestCase):
        def setUp(self):
            self.zaqar = shared_zaqar()      # blocks until /v2/ping answers

        def test_something(self):
            url = self.zaqar.url             # "http://127.0.0.1:PORT"

If C{TXZAQAR_ZAQAR_URL} is set, L{shared_zaqar} uses that server instead of
starting one (C{TXZAQAR_ZAQAR_POOLING_URL} likewise for C{pooling=True}).
HTTPS: L{shared_pki} writes a test CA and certificates
(L{txzaqar.testing.servers.pki}); L{shared_tls_zaqar} runs a Zaqar on
C{https://127.0.0.1:PORT} with them (optionally requiring client
certificates, or with a certificate for the wrong host name);
L{shared_keystone_stack} runs Keystone and a Zaqar with C{auth_strategy =
keystone}.  Push (WebSocket notifications and webhooks):
L{shared_push_zaqar} runs a Zaqar with the notifier pipeline and its
WebSocket transport (C{.url}, C{.websocket_url}), optionally with
C{require_confirmation}; L{push_zaqar} starts one of your own (for a test
that kills its WebSocket process); C{shared_keystone_stack(push=True)}
adds the WebSocket transport to the Keystone stack, in the catalog as
C{messaging-websocket}.  L{shared_zaqar} has no notifier pipeline: it is
the "Zaqar without notifier" case.  Every server is stopped when the process exits (the hook is
registered when the first server starts:
L{txzaqar.testing.servers.process.stop_servers}), or by L{stop_all}.

L{ServerSet} is Redis plus one or two Zaqars (and Keystone), started and
stopped together: what the CLI and the demo run.

Only the standard library is used here.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

from .keystone_install import prepare_zaqar_and_keystone
from .keystone_stack import KeystoneStack
from .pki import TestPKI, make_test_pki
from .process import ServerProcess, run_dir, stop_servers
from .redis import RedisServer, forget_shared_redis, shared_redis
from .venv import ensure_server_venv
from .zaqar import NOTIFIER, ExternalZaqar, ZaqarServer

__all__ = [
    "POOLING_URL_ENV",
    "POOL_URIS_ENV",
    "URL_ENV",
    "WEBSOCKET_URL_ENV",
    "ServerSet",
    "push_zaqar",
    "shared_keystone_stack",
    "shared_pki",
    "shared_push_zaqar",
    "shared_redis",
    "shared_tls_zaqar",
    "shared_zaqar",
    "stop_all",
]

#: A running Zaqar to use instead of starting one.
URL_ENV = "TXZAQAR_ZAQAR_URL"
#: A running Zaqar with pooling to use instead of starting one.
POOLING_URL_ENV = "TXZAQAR_ZAQAR_POOLING_URL"
#: The pool URIs (space-separated) that go with C{$TXZAQAR_ZAQAR_POOLING_URL}.
POOL_URIS_ENV = "TXZAQAR_ZAQAR_POOL_URIS"
#: The WebSocket transport of the Zaqar at C{$TXZAQAR_ZAQAR_URL} (C{ws://HOST:PORT}).
WEBSOCKET_URL_ENV = "TXZAQAR_WEBSOCKET_URL"

_shared_lock = threading.RLock()
_shared_zaqar: dict[tuple[str, bool], ZaqarServer | ExternalZaqar] = {}
_shared_pki: TestPKI | None = None
_shared_tls_zaqar: dict[tuple[bool, bool], ZaqarServer] = {}
_shared_stacks: dict[tuple[int, str, bool, bool], KeystoneStack] = {}
_shared_push_zaqar: dict[bool, ZaqarServer | ExternalZaqar] = {}


def shared_zaqar(mode: str = "gunicorn", pooling: bool = False) -> ZaqarServer | ExternalZaqar:
    """
    A running Zaqar for this process, started (blocking) on first use and
    reused afterwards; call it from C{setUp} (trial has no
    C{setUpClass}).  All of them share one
    Redis.  C{$TXZAQAR_ZAQAR_URL} (or C{$TXZAQAR_ZAQAR_POOLING_URL} with
    I{pooling}) selects an already running server instead.  Raises
    L{HarnessError} when the server cannot be built or started.
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


def push_zaqar(*, require_confirmation: bool = False, mode: str = "gunicorn") -> ZaqarServer:
    """
    Start (blocking) a Zaqar of the caller's own on the shared Redis: HTTP
    with the notifier pipeline, plus its WebSocket transport
    (C{server.websocket}, which the caller may L{kill
    <txzaqar.testing.servers.process.ServerProcess.kill>} and
    C{start()} again on the same port).  The caller stops it
    (C{self.addCleanup(server.stop)}); it is stopped at exit otherwise.

    @raise HarnessError: it did not come up.
    """
    ensure_server_venv()
    server = ZaqarServer(
        shared_redis(),
        mode=mode,
        message_pipeline=NOTIFIER,
        websocket=True,
        require_confirmation=require_confirmation,
        name=f"zaqar-push{'-confirm' if require_confirmation else ''}-{uuid.uuid4().hex[:4]}",
    )
    server.start()
    return server


def shared_push_zaqar(*, require_confirmation: bool = False) -> ZaqarServer | ExternalZaqar:
    """
    A running push Zaqar for this process (see L{push_zaqar}), started
    (blocking) on first use and cached per I{require_confirmation}; call it
    from C{setUp}.  Its C{.url} is the HTTP API, its C{.websocket_url} the
    WebSocket transport (C{ws://127.0.0.1:PORT}); a message posted over
    either notifies WebSocket subscribers and webhooks.  With
    I{require_confirmation}, webhooks are sent a confirmation request
    first and nothing else until confirmed.  C{$TXZAQAR_ZAQAR_URL} with
    C{$TXZAQAR_WEBSOCKET_URL} (what C{python -m txzaqar.testing run --push}
    exports) selects running servers instead (not with
    I{require_confirmation}).  Do not kill its WebSocket process: others
    share it (use L{push_zaqar}).

    @raise HarnessError: a server could not be built or started.
    """
    url, ws_url = os.environ.get(URL_ENV), os.environ.get(WEBSOCKET_URL_ENV)
    with _shared_lock:
        server = _shared_push_zaqar.get(require_confirmation)
        if isinstance(server, ExternalZaqar):
            return server
        if server is not None and server.websocket is not None:
            if server.running() and server.websocket.running():
                return server
            server.stop()
        if url and ws_url and not require_confirmation:
            server = ExternalZaqar(url, websocket_url=ws_url)
            server.start()
        else:
            server = push_zaqar(require_confirmation=require_confirmation)
        _shared_push_zaqar[require_confirmation] = server
        return server


def shared_pki() -> TestPKI:
    """
    The process-wide test PKI (L{txzaqar.testing.servers.pki.make_test_pki}),
    written on first use into this process's run directory.
    """
    global _shared_pki
    with _shared_lock:
        if _shared_pki is None or not _shared_pki.ca_cert.exists():
            _shared_pki = make_test_pki(run_dir() / "pki")
        return _shared_pki


def shared_tls_zaqar(*, mtls: bool = False, wrong_host: bool = False) -> ZaqarServer:
    """
    A running HTTPS Zaqar (no auth, gunicorn with one worker) for this
    process, with a certificate from L{shared_pki}: for
    C{127.0.0.1}/C{localhost}, or with I{wrong_host} for
    C{wrong-host.invalid} only.  With I{mtls} it requires a client
    certificate signed by the test CA (C{shared_pki().client_cert}).
    Cached per (mtls, wrong_host), like L{shared_zaqar}.
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
    """
    Stop every server this process started (newest first), and forget the
    shared ones: the next C{shared_*} call starts a new one.

    @raise Exception: the first error of a server that would not stop
        (after trying all the others).
    """
    try:
        stop_servers()
    finally:
        with _shared_lock:
            _shared_zaqar.clear()
            _shared_tls_zaqar.clear()
            _shared_stacks.clear()
            _shared_push_zaqar.clear()
            forget_shared_redis()


def shared_keystone_stack(
    token_ttl: int = 3600, mode: str = "gunicorn", tls: bool = False, push: bool = False
) -> KeystoneStack:
    """
    A running L{KeystoneStack} for this process, started (blocking)
    on first use and cached per (I{token_ttl}, I{mode}, I{tls}); call it from
    C{setUp}.  A stack started without I{tls} always has push (below): the
    same stack then serves tests with and without it, one Keystone fewer
    to start.  Each stack has its own Keystone (own database and keys) and
    its own Zaqar on its own database of the shared Redis.  With I{tls},
    Keystone and Zaqar both serve HTTPS with the C{127.0.0.1}/C{localhost}
    certificate of L{shared_pki} (trust
    C{shared_pki().ca_cert}); no client certificates.  With I{push}, Zaqar
    has the notifier pipeline and its WebSocket transport too (same
    keystone auth; plain C{ws://} even with I{tls}), registered in the
    catalog as C{messaging-websocket} (C{stack.websocket_url}).
    """
    push = push or not tls
    key = (token_ttl, mode, tls, push)
    with _shared_lock:
        stack = _shared_stacks.get(key)
        if stack is not None and stack.running():
            return stack
        if stack is not None:
            stack.stop()
        server_tls = shared_pki().server_tls() if tls else None
        stack = KeystoneStack(token_ttl, mode=mode, zaqar_tls=server_tls, keystone_tls=server_tls, push=push)
        stack.start()
        _shared_stacks[key] = stack
        return stack


class ServerSet:
    """
    Redis plus one or two Zaqars, started and stopped together (the CLI's
    C{run} and C{serve}), and with I{keystone} a Keystone stack
    (L{txzaqar.testing.servers.keystone_stack.KeystoneStack}: Keystone + a Zaqar with keystone auth,
    tokens valid I{token_ttl} seconds).  With I{push}, the Zaqar (and the
    Keystone stack's) get the notifier pipeline and a WebSocket transport.
    C{env()} gives the variables a child process needs to find them.
    """

    def __init__(
        self,
        mode: str = "gunicorn",
        pooling: bool = False,
        keystone: bool = False,
        token_ttl: int = 3600,
        push: bool = False,
    ) -> None:
        #: How the Zaqars run (see L{ZaqarServer}).
        self.mode = mode
        #: Whether a second Zaqar with pooling is started.
        self.pooling = pooling
        #: The Redis, once started.
        self.redis: RedisServer | None = None
        #: The Zaqar, once started.
        self.zaqar: ZaqarServer | None = None
        #: The pooling Zaqar, once started (with I{pooling}).
        self.pooling_zaqar: ZaqarServer | None = None
        #: Whether a Keystone stack is started.
        self.keystone = keystone
        #: Keystone's token lifetime, in seconds.
        self.token_ttl = token_ttl
        #: The Keystone stack, once started (with I{keystone}).
        self.keystone_stack: KeystoneStack | None = None
        #: Whether the Zaqars run the WebSocket transport and the notifier pipeline.
        self.push = push

    def start(self) -> None:
        """
        Start Redis, the Zaqar(s) and the Keystone stack (blocking); on failure stop what was started.

        @raise HarnessError: a server did not come up.
        """
        if self.keystone:
            venv, _ = prepare_zaqar_and_keystone()
        else:
            venv = ensure_server_venv()
        try:
            self.redis = RedisServer(venv=venv)
            self.redis.start()
            self.zaqar = ZaqarServer(self.redis, mode=self.mode, venv=venv, websocket=self.push)
            self.zaqar.start()
            if self.pooling:
                self.pooling_zaqar = ZaqarServer(self.redis, mode=self.mode, pooling=True, venv=venv)
                self.pooling_zaqar.start()
            if self.keystone:
                self.keystone_stack = KeystoneStack(
                    self.token_ttl, redis=self.redis, mode=self.mode, venv=venv, push=self.push
                )
                self.keystone_stack.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every server started (blocking)."""
        if self.keystone_stack is not None:
            self.keystone_stack.stop()
        for server in (self.pooling_zaqar, self.zaqar, self.redis):
            if server is not None:
                server.stop()

    def env(self) -> dict[str, str]:
        """
        The environment variables a child process needs to find the servers.

        @return: variable name to value.
        """
        assert self.zaqar is not None
        env = {URL_ENV: self.zaqar.url}
        if self.zaqar.websocket is not None:
            env[WEBSOCKET_URL_ENV] = self.zaqar.websocket.url
        if self.pooling_zaqar is not None:
            env[POOLING_URL_ENV] = self.pooling_zaqar.url
            env[POOL_URIS_ENV] = " ".join(self.pooling_zaqar.pool_uris)
        if self.keystone_stack is not None:
            env.update(self.keystone_stack.env())
        return env

    def __iter__(self) -> Iterator[ServerProcess]:
        servers: list[ServerProcess | None] = [self.redis, self.zaqar, self.pooling_zaqar]
        if self.keystone_stack is not None:
            servers += [self.keystone_stack.keystone, self.keystone_stack.zaqar]
        # a WebSocket transport is a process of its own
        servers += [z.websocket for z in servers if isinstance(z, ZaqarServer)]
        return iter(s for s in servers if s is not None)
