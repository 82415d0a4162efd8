"""
``python -m txzaqar.testing``: run real Zaqar servers for tests.

    python -m txzaqar.testing prepare
    python -m txzaqar.testing run [--mode gunicorn|builtin] [--pooling] -- CMD ...
    python -m txzaqar.testing serve [--mode gunicorn|builtin] [--pooling]

``run`` exports TXZAQAR_ZAQAR_URL (and, with --pooling,
TXZAQAR_ZAQAR_POOLING_URL and TXZAQAR_ZAQAR_POOL_URIS) to CMD and exits
with CMD's exit code.  The state directory (server venv, configs, logs) is
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
    sub.add_parser("prepare", help="build the Zaqar server virtualenv only")
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
        if name == "run":
            p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS ...]")
    args = parser.parse_args(argv)

    try:
        if args.command == "prepare":
            return _harness.cli_prepare()
        if args.command == "serve":
            return _harness.cli_serve(args.mode, args.pooling)
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return _harness.cli_run(cmd, args.mode, args.pooling)
    except _harness.HarnessError as e:
        print(f"python -m txzaqar.testing: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
