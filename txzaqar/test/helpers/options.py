"""
The daemon's options parsed in this process: C{GOOD}, a command line
that passes, and C{parse}, which parses it with more arguments; and
C{PARSE}, a script that parses its arguments as twistd does, in a subprocess.
"""

from __future__ import annotations

from typing import Any

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.daemon import _service as _tap

__all__ = ["BASE", "GOOD", "PARSE", "EnvironmentOptionsCase", "parse"]

#: The connection part of a C{zaqar-listen} command line (no queue: the test adds its own).
BASE = ["--url", "http://127.0.0.1:8888", "--project-id", "demo"]


#: A C{zaqar-listen} command line that passes its checks.
GOOD = ["--url", "http://127.0.0.1:8888", "--project-id", "demo", "--queue", "jobs"]


def parse(*extra: str) -> _tap.Options:
    """The options of C{GOOD} and C{extra}, parsed."""
    options = _tap.Options()
    options.parseOptions(GOOD + list(extra))
    return options


class EnvironmentOptionsCase(SynchronousTestCase):
    """Parses L{BASE} and more with a given environment (nothing else of this process's)."""

    def parse(self, *args: str, env: dict[str, str] | None = None) -> Any:
        """The options of L{BASE} and C{args}, parsed with C{env} as the environment."""
        self.patch(_tap.os, "environ", dict(env or {}))
        options = _tap.Options()
        options.parseOptions([*BASE, *args])
        return options

    def refused(self, *args: str, env: dict[str, str] | None = None) -> str:
        """The text of the usage error that L{BASE} and C{args} with C{env} raise."""
        self.patch(_tap.os, "environ", dict(env or {}))
        e = self.assertRaises(UsageError, _tap.Options().parseOptions, [*BASE, *args])
        return str(e)


#: Parse argv[1:] as twistd would, print what zaqar-listen made of it.
PARSE = """
import json, sys
from twisted.scripts.twistd import ServerOptions
config = ServerOptions()
config.parseOptions(sys.argv[1:])
options = config.subOptions
settings = options["subscriber-settings"]
print(json.dumps({"command": config.subCommand, "queues": options["queues"],
                  "threads": settings.threads, "stop_timeout": settings.stop_timeout,
                  "metrics": options["metrics"], "nodaemon": bool(config["nodaemon"]),
                  "keystone": sorted(options["keystone"] or {})}))
"""
