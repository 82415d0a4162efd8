"""What the command line's test modules share: its options parsed as a user types them."""

from __future__ import annotations

import io
import os
from unittest import mock

from txzaqar.cli._options import Options

#: The connection options of every parse: a noauth Zaqar on a placeholder URL.
CONNECTION = ["--url", "http://127.0.0.1:8888", "--project-id", "demo"]


def parse(*argv: str) -> Options:
    """C{txzaqar}'s options from C{argv}, with no C{OS_*} or C{ZAQAR_*} variable and C{--help} text kept quiet."""
    options = Options()
    with mock.patch.dict(os.environ, {}, clear=True), mock.patch("sys.stdout", io.StringIO()):
        options.parseOptions(list(argv))
    return options
