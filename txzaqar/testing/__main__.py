"""
``python -m txzaqar.testing``: run real Zaqar servers for tests.

    python -m txzaqar.testing prepare [--no-keystone]
    python -m txzaqar.testing run [--mode gunicorn|builtin] [--pooling] [--keystone [--token-ttl N]] -- CMD ...
    python -m txzaqar.testing serve [--mode gunicorn|builtin] [--pooling] [--keystone [--token-ttl N]]

``prepare`` builds the Zaqar venv and the Keystone venv (plus its template
database) in parallel; ``--no-keystone`` builds only Zaqar's.

``run`` exports TXZAQAR_ZAQAR_URL (and, with --pooling,
TXZAQAR_ZAQAR_POOLING_URL and TXZAQAR_ZAQAR_POOL_URIS; with --keystone,
TXZAQAR_KEYSTONE_URL and TXZAQAR_KEYSTONE_ZAQAR_URL) to CMD and exits
with CMD's exit code.  The Keystone users are fixed: admin/admin-secret,
demo/demo-secret (project demo), alt/alt-secret (project alt), domain
default.  The state directory (server venvs, configs, logs) is
$TXZAQAR_SERVER_DIR, default <project>/.zaqar-servers.
"""

import argparse
import sys

from txzaqar.testing import _harness


def main(argv=None):
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
        ("run", "start Redis + Zaqar, run CMD with TXZAQAR_ZAQAR_URL set, stop them"),
        ("serve", "start Redis + Zaqar, print the URL, run until Ctrl-C"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--mode", choices=_harness.MODES, default="gunicorn")
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
        if name == "run":
            p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS ...]")
    args = parser.parse_args(argv)

    try:
        if args.command == "prepare":
            return _harness.cli_prepare(args.keystone)
        if args.command == "serve":
            return _harness.cli_serve(args.mode, args.pooling, args.keystone, args.token_ttl)
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return _harness.cli_run(cmd, args.mode, args.pooling, args.keystone, args.token_ttl)
    except _harness.HarnessError as e:
        print(f"python -m txzaqar.testing: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
