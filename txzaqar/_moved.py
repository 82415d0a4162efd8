"""
The public module paths txzaqar had before its modules moved into packages
(issue 22), kept working for one release: importing one (C{import
txzaqar.queue}, C{from txzaqar import connection}) gives the module at its
new path, the same objects, with a C{DeprecationWarning} naming the new
path.  One import hook does it, instead of a shim file per old module.

The private modules (C{txzaqar._listener}, ...) just moved; the news
fragment lists them.  One private path is kept: C{txzaqar._tap}, which the
twistd plugin file of earlier releases names (that file lives outside the
package, so an older install can leave it behind).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

from twisted.python.deprecate import DEPRECATION_WARNING_FORMAT, getVersionString
from twisted.python.versions import Version

#: Old module path -> the module it now is.
MOVED = {
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
    # private, but the twistd plugin file of earlier releases names it, and that file lives outside
    # the package (twisted/plugins/): one left by an older install must still start the daemon
    "txzaqar._tap": "txzaqar.daemon",
}

#: What to use instead, where that is not simply the new path.
_USE_INSTEAD = {"txzaqar.compose": "txzaqar.connect"}

#: The release in which the old paths are deprecated (they go in the next).
DEPRECATED_IN = Version("txzaqar", 0, 1, 0)


def warning_text(old: str) -> str:
    """What importing C{old} warns, in Twisted's deprecation wording."""
    deprecated = DEPRECATION_WARNING_FORMAT % {"fqpn": old, "version": getVersionString(DEPRECATED_IN)}
    return f"{deprecated}; please use {_USE_INSTEAD.get(old, MOVED[old])} instead"


def _importer_stacklevel() -> int:
    """
    The C{stacklevel} (from L{_Aliases.create_module}) of the code that
    imported an old path, past the frames L{warnings} skips itself (the
    import machinery's) and those of the lookup: this module,
    C{importlib.import_module}, the package's C{__getattr__}.
    """
    level = 1
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not ("importlib" in filename and "_bootstrap" in filename):
            level += 1
            lookup = filename == __file__ or (frame.f_globals.get("__name__") in ("importlib", "txzaqar")
                                              and frame.f_code.co_name in ("import_module", "__getattr__"))
            if not lookup:
                return level
        frame = frame.f_back  # type: ignore[assignment]
    return level


class _Aliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads it as the module at the new path."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(warning_text(spec.name), DeprecationWarning, stacklevel=_importer_stacklevel())
        module = importlib.import_module(MOVED[spec.name])
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has just given the module the old path's spec: give it back its own.
        module.__spec__ = self._specs.pop(module.__name__)


#: The one hook (installed once, by L{install}).
_ALIASES = _Aliases()


def install() -> None:
    """Put the hook on C{sys.meta_path}, once."""
    if _ALIASES not in sys.meta_path:
        sys.meta_path.append(_ALIASES)


def attribute(package: str, name: str) -> ModuleType:
    """
    C{txzaqar.<name>} read as an attribute (the package's C{__getattr__}):
    an old module path, imported (with its warning).

    @raise AttributeError: C{name} is no old path.
    """
    if f"{package}.{name}" not in MOVED:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return importlib.import_module(f"{package}.{name}")
