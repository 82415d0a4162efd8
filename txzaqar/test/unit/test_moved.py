"""
L{txzaqar._moved}: each public module path of before the packages still
imports, warns naming its new path, and gives the new module's objects;
the private paths that just moved are gone.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

from twisted.trial.unittest import SynchronousTestCase

import txzaqar
from txzaqar import _moved

#: The old public paths and where they went (what the news fragment lists).
OLD_PUBLIC = {
    "txzaqar.admin": "txzaqar.api.admin",
    "txzaqar.claim": "txzaqar.api.claim",
    "txzaqar.client": "txzaqar.api.client",
    "txzaqar.compose": "txzaqar._connect",
    "txzaqar.connection": "txzaqar.http.connection",
    "txzaqar.health": "txzaqar.ops.health",
    "txzaqar.message": "txzaqar.api.message",
    "txzaqar.metrics": "txzaqar.ops.metrics",
    "txzaqar.queue": "txzaqar.api.queue",
    "txzaqar.queue_values": "txzaqar.api.values",
    "txzaqar.sdnotify": "txzaqar.ops.sdnotify",
    "txzaqar.subscription": "txzaqar.api.subscription",
    "txzaqar.tls": "txzaqar.auth.tls",
    # the plugin path earlier releases' twisted/plugins/txzaqar_plugins.py names
    "txzaqar._tap": "txzaqar.daemon",
}

#: Private modules that just moved (listed as removed in the news).
OLD_PRIVATE = [
    "txzaqar._listener", "txzaqar._push_options", "txzaqar._startup",
    "txzaqar._daemon_signals", "txzaqar._json_log", "txzaqar._stdlib_logging", "txzaqar._demo_main",
    "txzaqar._paging", "txzaqar._encrypted", "txzaqar._transport_failures", "txzaqar._twisted_internals",
    "txzaqar._clouds", "txzaqar._environment", "txzaqar._threads", "txzaqar._validation", "txzaqar._arguments",
]


class OldPathTests(SynchronousTestCase):
    def forget(self, old: str) -> None:
        """Make the next import of C{old} a first one (as in a fresh interpreter), for this test."""
        name = old.rpartition(".")[2]
        saved_module = sys.modules.pop(old, None)
        saved_attribute = txzaqar.__dict__.pop(name, None)

        def restore() -> None:
            sys.modules.pop(old, None)
            txzaqar.__dict__.pop(name, None)
            if saved_module is not None:
                sys.modules[old] = saved_module
            if saved_attribute is not None:
                setattr(txzaqar, name, saved_attribute)

        self.addCleanup(restore)

    def imported(self, old: str, how: str) -> tuple[ModuleType, list[warnings.WarningMessage]]:
        self.forget(old)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if how == "import":
                module = importlib.import_module(old)
            elif how == "from":
                module = getattr(__import__("txzaqar", fromlist=[old.rpartition(".")[2]]), old.rpartition(".")[2])
            else:
                module = getattr(txzaqar, old.rpartition(".")[2])
        return module, [w for w in caught if issubclass(w.category, DeprecationWarning)]

    def test_the_list_is_the_hooks(self) -> None:
        self.assertEqual(_moved.MOVED, OLD_PUBLIC)

    def test_old_paths_warn_and_are_the_new_modules(self) -> None:
        """C{import txzaqar.queue}: one warning naming C{txzaqar.api.queue}, and the very same module."""
        for old, new in OLD_PUBLIC.items():
            for how in ("import", "from", "attribute"):
                with self.subTest(old=old, how=how):
                    module, caught = self.imported(old, how)
                    target = importlib.import_module(new)
                    self.assertIs(module, target)
                    public = getattr(target, "__all__", [n for n in vars(target) if not n.startswith("_")])
                    for name in public:
                        self.assertIs(getattr(module, name), getattr(target, name))
                    self.assertEqual(len(caught), 1, [str(w.message) for w in caught])
                    message = str(caught[0].message)
                    self.assertIn(f"{old} was deprecated in txzaqar 0.1.0; please use ", message)
                    self.assertIn("txzaqar.connect" if old == "txzaqar.compose" else new, message)
                    self.assertEqual(caught[0].filename, __file__)

    def test_new_module_keeps_its_spec(self) -> None:
        """Loading an old path does not leave the new module named by it."""
        module, _ = self.imported("txzaqar.queue", "import")
        self.assertEqual(module.__spec__.name if module.__spec__ else None, "txzaqar.api.queue")
        self.assertEqual(module.__name__, "txzaqar.api.queue")

    def test_private_paths_are_gone(self) -> None:
        for old in OLD_PRIVATE:
            with self.subTest(old=old):
                self.forget(old)
                with self.assertRaises(ModuleNotFoundError):
                    importlib.import_module(old)

    def test_other_names_still_missing(self) -> None:
        with self.assertRaises(AttributeError):
            txzaqar.no_such_module  # noqa: B018


#: A twistd plugin file as earlier releases installed it (it names the module of before the packages).
STALE_PLUGIN = '''
from twisted.application.service import ServiceMaker

zaqarListenOld = ServiceMaker(
    "txzaqar listener", "txzaqar._tap", "an installed plugin file of an earlier release", "zaqar-listen-old"
)
'''


class StalePluginTests(SynchronousTestCase):
    def test_an_earlier_release_plugin_file_still_starts_twistd(self) -> None:
        """A plugin file left by an older install (naming C{txzaqar._tap}) still gives the daemon."""
        root = Path(tempfile.mkdtemp())
        plugins = root / "twisted" / "plugins"
        plugins.mkdir(parents=True)
        (plugins / "txzaqar_earlier.py").write_text(STALE_PLUGIN)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), *sys.path]))
        done = subprocess.run([sys.executable, "-m", "twisted", "zaqar-listen-old", "--help"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        self.assertIn("--queue", done.stdout)
        self.assertNotIn("Traceback", done.stderr)
