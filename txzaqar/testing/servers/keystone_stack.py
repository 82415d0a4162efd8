"""
Keystone plus a Zaqar that authenticates against it.

L{KeystoneStack} is a L{KeystoneServer
<txzaqar.testing.servers.keystone.KeystoneServer>} + a Zaqar with
C{auth_strategy = keystone} (C{token_cache_time = -1}, so revocation takes
effect at once) registered in its catalog;
L{shared_keystone_stack <txzaqar.testing.servers.shared.shared_keystone_stack>}
caches one per C{token_ttl} per process::

    def setUp(self):
        self.stack = shared_keystone_stack()           # 1-hour tokens
        # self.stack.keystone.url  -> "http://127.0.0.1:PORT/v3"
        # self.stack.zaqar.url     -> "http://127.0.0.1:PORT2"
        # shared_keystone_stack(push=True).websocket_url -> "ws://127.0.0.1:PORT3"
        #   (also in the catalog: service type messaging-websocket)
        # self.stack.credentials.demo.auth_kwargs(self.stack.keystone.url)
        #   -> kwargs for keystoneauth1.identity.v3.Password

Only the standard library is used in the calling process.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from .common import HarnessError, say
from .keystone import KeystoneServer
from .keystone_install import prepare_zaqar_and_keystone
from .keystone_users import REGION, SERVICE, KeystoneCredentials
from .pki import ServerTLS
from .redis import RedisServer, shared_redis
from .zaqar import ZaqarServer

__all__ = ["KeystoneStack", "zaqar_keystone_config"]


def zaqar_keystone_config(keystone: KeystoneServer, token_cache_time: int = -1) -> dict[str, dict[str, str]]:
    """
    C{ZaqarServer(extra_config=...)} for C{auth_strategy = keystone} against
    I{keystone} (its port must be known: started, or L{KeystoneServer.choose_port}).
    C{token_cache_time = -1} disables keystonemiddleware's token cache, so
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
    A L{KeystoneServer} plus a Zaqar with C{auth_strategy = keystone}
    against it (on its own Redis database), registered in the catalog as
    service type C{messaging}.

    @param redis: where Zaqar stores messages (default: the shared Redis).
    @param zaqar_tls: serve Zaqar over HTTPS.
    @param keystone_tls: serve Keystone over HTTPS (Zaqar then trusts its CA).
    @param push: Zaqar gets the notifier pipeline and its WebSocket
        transport (the same keystone auth, so clients send an
        C{authenticate} frame first), registered in the catalog as service
        type C{messaging-websocket} (name C{zaqar-websocket}, public
        endpoint C{ws://127.0.0.1:PORT}, as devstack registers it).
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
        push: bool = False,
    ) -> None:
        #: Keystone's token lifetime, in seconds.
        self.token_ttl = token_ttl
        #: The Redis Zaqar stores messages in (the shared one once started, when not given).
        self.redis = redis
        #: How Zaqar runs (see L{ZaqarServer}).
        self.mode = mode
        #: Zaqar's keystonemiddleware C{token_cache_time} (-1: tokens are checked on every request).
        self.token_cache_time = token_cache_time
        #: Zaqar's TLS settings, or C{None} for plain HTTP.
        self.zaqar_tls = zaqar_tls
        #: The Keystone server.
        self.keystone = KeystoneServer(token_ttl, venv=keystone_venv, tls=keystone_tls)
        #: Whether Zaqar has its WebSocket transport and the notifier pipeline.
        self.push = push
        self._zaqar: ZaqarServer | None = None
        self._venv = venv

    @property
    def zaqar(self) -> ZaqarServer:
        """The Zaqar server (exists once L{start} has been called)."""
        if self._zaqar is None:
            raise HarnessError("KeystoneStack has not been started")
        return self._zaqar

    @property
    def credentials(self) -> KeystoneCredentials:
        """Everybody the Keystone knows, and its URL."""
        return self.keystone.credentials

    @property
    def websocket_url(self) -> str:
        """
        Zaqar's WebSocket URL, C{ws://127.0.0.1:PORT} (as in the catalog).

        @raise HarnessError: not started, or started without I{push}.
        """
        return self.zaqar.websocket_url

    @property
    def zaqar_url(self) -> str:
        """Zaqar's base URL."""
        return self.zaqar.url

    def start(self) -> None:
        """
        Start Keystone, then Zaqar against it, and register Zaqar in the catalog (blocking); on failure
        stop what was started.

        @raise HarnessError: a server did not come up.
        """
        started = time.monotonic()
        try:
            # build both venvs at once when neither exists yet
            prepare_zaqar_and_keystone(self._venv, self.keystone.venv)
            redis = self.redis = self.redis or shared_redis()
            self.keystone.start()
            self._zaqar = ZaqarServer(
                redis,
                mode=self.mode,
                venv=self._venv,
                tls=self.zaqar_tls,
                name=f"zaqar-ks-ttl{self.token_ttl}-{uuid.uuid4().hex[:4]}",
                extra_config=zaqar_keystone_config(self.keystone, self.token_cache_time),
                websocket=self.push,
            )
            self.zaqar.start()
            self.keystone.register_messaging(self.zaqar.url, self.websocket_url if self.push else None)
        except BaseException:
            self.stop()
            raise
        say(f"keystone stack (ttl {self.token_ttl}) up in {time.monotonic() - started:.1f}s")

    def stop(self) -> None:
        """Stop Zaqar and Keystone (blocking)."""
        for server in (self._zaqar, self.keystone):
            if server is not None:
                server.stop()

    def running(self) -> bool:
        """Whether Keystone and Zaqar (and its WebSocket transport, with I{push}) are running."""
        return (
            self.keystone.running()
            and self._zaqar is not None
            and self._zaqar.running()
            and (self._zaqar.websocket is None or self._zaqar.websocket.running())
            and (self.redis is None or self.redis.running())
        )

    def __enter__(self) -> KeystoneStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Variables describing this stack (for the CLI)."""
        env = {
            "TXZAQAR_KEYSTONE_URL": self.keystone.url,
            "TXZAQAR_KEYSTONE_ZAQAR_URL": self.zaqar_url,
        }
        if self.push:
            env["TXZAQAR_KEYSTONE_WEBSOCKET_URL"] = self.websocket_url
        return env

