"""
The daemon's options parsed in this process: C{GOOD}, a command line
that passes, and C{parse}, which parses it with more arguments.
"""

from __future__ import annotations

from txzaqar.daemon import _service as _tap

__all__ = ["GOOD", "parse"]


#: A C{zaqar-listen} command line that passes its checks.
GOOD = ["--url", "http://127.0.0.1:8888", "--project-id", "demo", "--queue", "jobs"]


def parse(*extra: str) -> _tap.Options:
    """The options of C{GOOD} and C{extra}, parsed."""
    options = _tap.Options()
    options.parseOptions(GOOD + list(extra))
    return options
