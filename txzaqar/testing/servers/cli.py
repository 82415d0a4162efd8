"""
C{python -m txzaqar.testing}: run real Zaqar servers for tests::

    python -m txzaqar.testing prepare [--no-keystone]
    python -m txzaqar.testing run [--mode gunicorn|builtin] [--pooling] [--keystone [--token-ttl N]] [--push] -- CMD ...
    python -m txzaqar.testing serve [--mode gunicorn|builtin] [--pooling] [--keystone [--token-ttl N]] [--push]

C{prepare} builds the Zaqar venv and the Keystone venv (plus its template
database) in parallel; C{--no-keystone} builds only Zaqar's.

C{run} exports TXZAQAR_ZAQAR_URL (and, with --pooling,
TXZAQAR_ZAQAR_POOLING_URL and TXZAQAR_ZAQAR_POOL_URIS; with --keystone,
TXZAQAR_KEYSTONE_URL and TXZAQAR_KEYSTONE_ZAQAR_URL; with --push,
TXZAQAR_WEBSOCKET_URL, and with --keystone --push also
TXZAQAR_KEYSTONE_WEBSOCKET_URL) to CMD and exits with CMD's exit code;
C{serve} prints the same variables.  C{--push} gives the Zaqars the
notifier pipeline (webhooks, WebSocket notifications) and runs Zaqar's
WebSocket transport beside each; the Keystone stack's is in the catalog as
messaging-websocket.  The Keystone users are fixed: admin/admin-secret,
demo/demo-secret (project demo), alt/alt-secret (project alt), domain
default.  The state directory (server venvs, configs, logs) is
$TXZAQAR_SERVER_DIR, default <project>/.zaqar-servers.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from .common import HarnessError, say
from .keystone_install import prepare_zaqar_and_keystone
from .shared import ServerSet
from .venv import ensure_server_venv
from .zaqar import MODES

__all__ = ["main", "prepare", "run", "serve"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse I{argv} (default: C{sys.argv[1:]}), do the command; the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m txzaqar.testing",
        description="Build and run real Zaqar (+ Redis) servers for txzaqar's tests.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="build the server virtualenvs (Zaqar and Keystone)")
    prep.add_argument(
        "--no-keystone",
        dest="keystone",
        action="store_false",
        help="build only the Zaqar server venv",
    )
    for name, help_ in (
        ("run", "start Redis + Zaqar, run CMD with TXZAQAR_ZAQAR_URL (etc.) set, stop them"),
        ("serve", "start Redis + Zaqar, print the URLs, run until Ctrl-C"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--mode", choices=MODES, default="gunicorn")
        p.add_argument(
            "--pooling",
            action="store_true",
            help="also start a Zaqar with pooling on a SQLite catalogue",
        )
        p.add_argument(
            "--keystone",
            action="store_true",
            help="also start Keystone and a Zaqar with keystone auth registered in its catalog",
        )
        p.add_argument("--token-ttl", type=int, default=3600, help="Keystone token lifetime (s)")
        p.add_argument(
            "--push",
            action="store_true",
            help="give the Zaqars the notifier pipeline and run their WebSocket transport "
            "(TXZAQAR_WEBSOCKET_URL; with --keystone also in the catalog as messaging-websocket)",
        )
        if name == "run":
            p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS ...]")
    args = parser.parse_args(argv)

    try:
        if args.command == "prepare":
            return prepare(args.keystone)
        if args.command == "serve":
            return serve(args.mode, args.pooling, args.keystone, args.token_ttl, args.push)
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return run(cmd, args.mode, args.pooling, args.keystone, args.token_ttl, args.push)
    except HarnessError as e:
        print(f"python -m txzaqar.testing: {e}", file=sys.stderr)
        return 2


class _Terminated(BaseException):
    pass


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def prepare(keystone: bool = True) -> int:
    """
    Build the Zaqar server venv and (unless I{keystone} is false) the
    Keystone venv and its template database, the two in parallel.
    """
    started = time.monotonic()
    if keystone:
        venv, ks_venv = prepare_zaqar_and_keystone()
        say(f"keystone venv: {ks_venv}")
    else:
        venv = ensure_server_venv()
    say(f"server venv: {venv} ({time.monotonic() - started:.1f}s)")
    return 0


def run(
    command: Sequence[str],
    mode: str = "gunicorn",
    pooling: bool = False,
    keystone: bool = False,
    token_ttl: int = 3600,
    push: bool = False,
) -> int:
    """Start the servers, run I{command} with their URLs in its environment."""
    if not command:
        raise HarnessError("run: no command given (use: run [--mode M] -- CMD ...)")
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    servers = ServerSet(mode, pooling, keystone, token_ttl, push)
    child: subprocess.Popen | None = None
    try:
        servers.start()
        env = dict(os.environ)
        env.update(servers.env())
        for k, v in servers.env().items():
            say(f"{k}={v}")
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


def serve(
    mode: str = "gunicorn",
    pooling: bool = False,
    keystone: bool = False,
    token_ttl: int = 3600,
    push: bool = False,
) -> int:
    """Start the servers, print their URLs, wait for Ctrl-C or SIGTERM."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    servers = ServerSet(mode, pooling, keystone, token_ttl, push)
    try:
        servers.start()
        for k, v in servers.env().items():
            print(f"{k}={v}", flush=True)
        for server in servers:
            say(f"{server.name}: pid {server.pid}, logs in {server.directory}")
        say("serving; Ctrl-C to stop")
        while all(s.running() for s in servers):
            time.sleep(0.5)
        say("a server exited unexpectedly")
        return 1
    except (KeyboardInterrupt, _Terminated):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        servers.stop()
