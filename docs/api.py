"""
Build txzaqar's API reference with pydoctor, warnings as errors, linking to
Python's, Twisted's and treq's documentation without the network (CI
reaches only the package registries, not their object inventories).

    python docs/api.py OUTPUT_DIR [--cache DIR]

It fails, listing them, when a public name has no docstring (pydoctor's
"undocumented" page lists it; see C{undocumented.py}).

The inventories are made here and cached in DIR (default
C{.zaqar-servers/docs-inventories}, beside the server venvs): Twisted's by pydoctor itself over the installed
Twisted (its API reference is pydoctor's, so the URLs match); Python's and
treq's, whose references are Sphinx sites, from the names their modules
define, written with sphobjinv in Sphinx's format.
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import inspect
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import sphobjinv as soi
from undocumented import SUMMARY_PAGE, undocumented_public

ROOT = Path(__file__).resolve().parent.parent

#: Standard-library modules whose names our docstrings may link to.
PYTHON_MODULES = [
    "abc", "asyncio", "atexit", "collections", "collections.abc", "contextlib", "datetime", "enum",
    "functools", "inspect", "io", "json", "logging", "os", "os.path", "pathlib", "random", "re",
    "signal", "socket", "ssl", "subprocess", "sys", "tempfile", "threading", "time", "typing",
    "urllib.parse", "uuid", "warnings",
]
PYTHON_URL = "https://docs.python.org/3/"
_STDTYPES = {"dict", "list", "str", "int", "float", "bool", "bytes", "tuple", "set", "frozenset", "bytearray"}


def _role(obj: object) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj):
        return "function"
    return "data"


def python_inventory() -> soi.Inventory:
    inv = soi.Inventory()
    inv.project, inv.version = "Python", f"{sys.version_info[0]}.{sys.version_info[1]}"

    def add(name: str, role: str, uri: str) -> None:
        inv.objects.append(soi.DataObjStr(name=name, domain="py", role=role, priority="1", uri=uri, dispname="-"))

    for name in dir(builtins):
        obj = getattr(builtins, name)
        if name.startswith("_"):
            continue
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            add(name, "exception", f"library/exceptions.html#{name}")
        elif name in _STDTYPES:
            add(name, "class", f"library/stdtypes.html#{name}")
        elif callable(obj):
            add(name, "function", f"library/functions.html#{name}")
    for module_name in PYTHON_MODULES:
        module = importlib.import_module(module_name)
        page = f"library/{module_name}.html"
        add(module_name, "module", f"{page}#module-{module_name}")
        for name in dir(module):
            if not name.startswith("_"):
                add(f"{module_name}.{name}", _role(getattr(module, name)), f"{page}#{module_name}.{name}")
    return inv


def treq_inventory() -> soi.Inventory:
    inv = soi.Inventory()
    inv.project, inv.version = "treq", metadata.version("treq")
    for module_name in ("treq", "treq.client", "treq.testing", "treq.response", "treq.content"):
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")]):
            obj = getattr(module, name)
            if getattr(obj, "__module__", module_name).split(".")[0] != "treq":
                continue
            inv.objects.append(soi.DataObjStr(
                name=f"{module_name}.{name}", domain="py", role=_role(obj), priority="1",
                uri=f"api.html#{module_name}.{name}", dispname="-",
            ))
    return inv


def write(inv: soi.Inventory, path: Path) -> None:
    soi.writebytes(path, soi.compress(inv.data_file(contract=True)))


def twisted_inventory(cache: Path) -> Path:
    """pydoctor's own inventory of the installed Twisted (made once per version)."""
    import twisted

    version = metadata.version("Twisted")
    path = cache / f"twisted-{version}" / "objects.inv"
    if not path.exists():
        source = Path(twisted.__file__).parent
        subprocess.run(
            [sys.executable, "-m", "pydoctor", "--make-intersphinx", "--quiet", "--quiet",
             f"--html-output={path.parent}", f"--project-base-dir={source.parent}", str(source)],
            check=True,
        )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--cache", default=str(ROOT / ".zaqar-servers" / "docs-inventories"))
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    python_inv, treq_inv = cache / "python.inv", cache / "treq.inv"
    write(python_inventory(), python_inv)
    write(treq_inventory(), treq_inv)
    twisted_inv = twisted_inventory(cache)
    twisted_version = metadata.version("Twisted")
    treq_version = metadata.version("treq")
    command = [
        sys.executable, "-m", "pydoctor",
        "--project-name=txzaqar", f"--project-version={metadata.version('txzaqar')}",
        "--docformat=epytext", "--warnings-as-errors",
        f"--project-base-dir={ROOT}",
        f"--html-output={args.output}",
        f"--intersphinx-file={python_inv}::{PYTHON_URL}",
        f"--intersphinx-file={twisted_inv}::https://docs.twisted.org/en/twisted-{twisted_version}/api/",
        f"--intersphinx-file={treq_inv}::https://treq.readthedocs.io/en/release-{treq_version}/",
        "--privacy=HIDDEN:txzaqar.test",
        "--privacy=HIDDEN:txzaqar.test.**",
        str(ROOT / "txzaqar"),
    ]
    built = subprocess.run(command).returncode
    if built:
        return built
    missing = undocumented_public((Path(args.output) / SUMMARY_PAGE).read_text(encoding="utf-8"))
    if missing:
        print(f"{len(missing)} public names have no docstring:", file=sys.stderr)
        for name in missing:
            print(f"  {name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
