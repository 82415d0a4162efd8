"""
C{txzaqar}: a command line for Zaqar over the library's public API::

    txzaqar --url http://127.0.0.1:8888 --project-id demo queue list
    txzaqar queue stats jobs            # $ZAQAR_URL and $OS_PROJECT_ID, or Keystone's OS_*

The commands are L{txzaqar.cli._commands.COMMANDS}; the exit statuses
L{txzaqar.cli._status.ExitStatus}.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

from twisted.python import usage

from ._status import ExitStatus, exit_status, one_line

__all__ = ["ExitStatus", "main"]


def _say(error: BaseException) -> None:
    sys.stderr.write(f"txzaqar: {one_line(error)}\n")
    sys.stderr.flush()


def _tls(options: Any) -> Any:
    """The TLS policy of C{--cacert}, C{--cert}/C{--key} and C{--insecure} (as C{connect} makes it), or C{None}."""
    if not (options["cacert"] or options["cert"] or options["insecure"]):
        return None
    from ..auth.tls import TLSPolicy

    return TLSPolicy(cacert=options["cacert"], cert=options["cert"], key=options["key"], insecure=options["insecure"])


async def run(reactor: Any, options: Any, stdin: Any = None, stdout: Any = None) -> None:
    """
    Run the command of the parsed L{txzaqar.cli._options.Options}; raise
    C{SystemExit} with its L{ExitStatus} after saying a failure in one line.
    """
    from .. import connect
    from ..daemon._credentials import make_authenticator
    from ._commands import Context
    from ._output import Output

    client = connect(
        options["url"],
        project_id=None if options["keystone"] or options.get("signed-url") else options["project-id"],
        roles=[r.strip() for r in options["roles"].split(",") if r.strip()] if options.get("roles") else None,
        authenticator=make_authenticator(options, reactor),
        reactor=reactor, cacert=options["cacert"], cert=options["cert"], key=options["key"],
        insecure=options["insecure"],
    )
    leaf = options.leaf()
    context = Context(client, leaf, Output(stdout or sys.stdout, options["format"]), stdin or sys.stdin, reactor,
                      tls=partial(_tls, options))
    status = ExitStatus.OK
    try:
        await leaf.command.run(context)
    except BrokenPipeError:
        status = _output_closed()
    except Exception as e:
        _say(e)
        status = exit_status(e)
    finally:
        await client.close()
    if status:
        raise SystemExit(int(status))


def _output_closed() -> ExitStatus:
    """
    Standard output was closed (C{| head}): point it at C{/dev/null}, so
    that flushing it at exit raises nothing more, and say nothing.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return ExitStatus.OUTPUT_CLOSED


def main(argv: Sequence[str] | None = None) -> None:
    """The C{txzaqar} console script: parse C{argv}, run the command under C{react}, exit with its status."""
    from twisted.internet.defer import Deferred
    from twisted.internet.task import react

    from ._options import Options

    options = Options()
    try:
        options.parseOptions(list(sys.argv[1:] if argv is None else argv))
    except usage.UsageError as e:
        _say(e)
        raise SystemExit(int(ExitStatus.USAGE)) from None
    except BrokenPipeError:  # --help into a closed pipe
        raise SystemExit(int(_output_closed())) from None
    react(lambda reactor: Deferred.fromCoroutine(run(reactor, options)))
