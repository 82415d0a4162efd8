"""
Importing L{txzaqar.testing} for the in-memory fake imports none of the
real-server package (L{txzaqar.testing.servers}) and registers no exit
hook; the real-server names it exports are found there on first use.
"""

import json
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

import txzaqar.testing
from txzaqar.testing import servers

# Runs in a fresh interpreter: records every atexit registration (the
# standard library registers some of its own, e.g. logging's shutdown).
_PROBE = """\
import atexit, json, sys
registered = []
_register = atexit.register
def register(func, *args, **kwargs):
    registered.append(getattr(func, "__module__", None) or "?")
    return _register(func, *args, **kwargs)
atexit.register = register
%s
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.startswith("txzaqar.testing")),
    "hooks": registered,
}))
"""


def probe(code: str) -> dict:
    """Run C{code} in a new interpreter; the C{txzaqar.testing} modules and exit hooks it left."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE % (code,)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return json.loads(out.splitlines()[-1])


class FakeImportsNoServersTests(SynchronousTestCase):
    def test_memory_client_imports_no_server_module(self) -> None:
        """The fake alone: no C{txzaqar.testing.servers} module, no exit hook of ours."""
        seen = probe("import txzaqar.testing as t; t.memory_client()")
        self.assertIn("txzaqar.testing.memory", seen["modules"])
        self.assertEqual([m for m in seen["modules"] if m.startswith("txzaqar.testing.servers")], [])
        self.assertEqual([m for m in seen["hooks"] if m.startswith("txzaqar")], [])

    def test_importing_servers_registers_no_hook(self) -> None:
        """Even the server package registers its exit hook only when a server starts."""
        seen = probe("import txzaqar.testing as t; t.shared_zaqar; import txzaqar.testing.servers.cli")
        self.assertIn("txzaqar.testing.servers.shared", seen["modules"])
        self.assertEqual([m for m in seen["hooks"] if m.startswith("txzaqar")], [])


class LazyServerNamesTests(SynchronousTestCase):
    def test_same_objects(self) -> None:
        """The server names of L{txzaqar.testing} are those of L{txzaqar.testing.servers}."""
        for name in ("HarnessError", "RedisServer", "ServerSet", "ZaqarServer", "shared_zaqar"):
            self.assertIs(getattr(txzaqar.testing, name), getattr(servers, name))
            self.assertIn(name, txzaqar.testing.__all__)

    def test_unknown_name(self) -> None:
        """Other names still raise L{AttributeError}."""
        self.assertRaises(AttributeError, getattr, txzaqar.testing, "no_such_name")
