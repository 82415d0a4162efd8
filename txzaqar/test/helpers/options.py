"""
The daemon's options parsed in this process: C{GOOD}, a command line
that passes, and C{parse}, which parses it with more arguments; and
C{PARSE}, a script that parses its arguments as twistd does, in a subprocess.
"""

from __future__ import annotations

from txzaqar.daemon import _service as _tap

__all__ = ["GOOD", "PARSE", "parse"]


#: A C{zaqar-listen} command line that passes its checks.
GOOD = ["--url", "http://127.0.0.1:8888", "--project-id", "demo", "--queue", "jobs"]


def parse(*extra: str) -> _tap.Options:
    """The options of C{GOOD} and C{extra}, parsed."""
    options = _tap.Options()
    options.parseOptions(GOOD + list(extra))
    return options


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
