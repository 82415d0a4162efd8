"""
Real servers for tests: Redis, Zaqar (gunicorn or built-in, pooling, HTTPS,
the WebSocket transport and the notifier for push), Keystone, a test PKI,
and the C{python -m txzaqar.testing} CLI.

Each concern is a module; this package re-exports their public names:

  - L{common <txzaqar.testing.servers.common>}: L{HarnessError}, progress
    lines, free ports;
  - L{venv <txzaqar.testing.servers.venv>}: the state directory and the
    Zaqar server virtualenv;
  - L{process <txzaqar.testing.servers.process>}: child-process supervision
    (own session, death signal, pid files, L{kill_stale}, the exit hook);
  - L{redis <txzaqar.testing.servers.redis>}, L{zaqar
    <txzaqar.testing.servers.zaqar>}, L{websocket
    <txzaqar.testing.servers.websocket>} (Zaqar's WebSocket transport
    beside an HTTP Zaqar): the servers;
  - L{pki <txzaqar.testing.servers.pki>}: the test CA and certificates;
  - L{keystone_users <txzaqar.testing.servers.keystone_users>},
    L{keystone_install <txzaqar.testing.servers.keystone_install>},
    L{keystone <txzaqar.testing.servers.keystone>}, L{keystone_stack
    <txzaqar.testing.servers.keystone_stack>}: Keystone, and a Zaqar that
    authenticates against it;
  - L{shared <txzaqar.testing.servers.shared>}: the servers a test process
    shares (L{shared_zaqar}, L{shared_push_zaqar} and friends),
    L{push_zaqar}, L{ServerSet}, L{stop_all};
  - L{cli <txzaqar.testing.servers.cli>}: the command line.

Everything here blocks and prints progress to stderr: call it from
C{setUp}, never from the reactor thread.  Importing C{txzaqar.testing} (the
in-memory fake) imports none of it.
"""

from .common import HarnessError, free_port
from .keystone import KeystoneServer
from .keystone_install import (
    KEYSTONE_REQUIREMENTS,
    ensure_keystone_template,
    ensure_keystone_venv,
    prepare_zaqar_and_keystone,
)
from .keystone_stack import KeystoneStack, zaqar_keystone_config
from .keystone_users import KeystoneCredentials, KeystoneUser
from .pki import ServerTLS, TestPKI, make_test_pki
from .process import ServerProcess, group_alive, group_stats, kill_stale, run_dir, start_time, stop_servers
from .redis import RedisServer
from .shared import (
    POOL_URIS_ENV,
    POOLING_URL_ENV,
    URL_ENV,
    WEBSOCKET_URL_ENV,
    ServerSet,
    push_zaqar,
    shared_keystone_stack,
    shared_pki,
    shared_push_zaqar,
    shared_redis,
    shared_tls_zaqar,
    shared_zaqar,
    stop_all,
)
from .venv import REQUIREMENTS, SERVER_EXECUTABLES, STATE_DIR_ENV, ensure_server_venv, state_dir
from .websocket import ZaqarWebSocketServer, wait_for_websocket, websocket_handshake
from .zaqar import MODES, NOTIFIER, ExternalZaqar, ZaqarServer, ping, wait_for_ping

__all__ = [
    "KEYSTONE_REQUIREMENTS",
    "MODES",
    "NOTIFIER",
    "POOLING_URL_ENV",
    "POOL_URIS_ENV",
    "REQUIREMENTS",
    "SERVER_EXECUTABLES",
    "STATE_DIR_ENV",
    "URL_ENV",
    "WEBSOCKET_URL_ENV",
    "ExternalZaqar",
    "HarnessError",
    "KeystoneCredentials",
    "KeystoneServer",
    "KeystoneStack",
    "KeystoneUser",
    "RedisServer",
    "ServerProcess",
    "ServerSet",
    "ServerTLS",
    "TestPKI",
    "ZaqarServer",
    "ZaqarWebSocketServer",
    "ensure_keystone_template",
    "ensure_keystone_venv",
    "ensure_server_venv",
    "free_port",
    "group_alive",
    "group_stats",
    "kill_stale",
    "make_test_pki",
    "ping",
    "prepare_zaqar_and_keystone",
    "push_zaqar",
    "run_dir",
    "shared_keystone_stack",
    "shared_pki",
    "shared_push_zaqar",
    "shared_redis",
    "shared_tls_zaqar",
    "shared_zaqar",
    "start_time",
    "state_dir",
    "stop_all",
    "stop_servers",
    "wait_for_ping",
    "wait_for_websocket",
    "websocket_handshake",
    "zaqar_keystone_config",
]
