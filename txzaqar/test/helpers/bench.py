"""
The benchmark package (C{bench/}, in the source checkout only: it is not
installed) for the unit tests of its summary and verdict.

tox runs the unit suite from C{{envtmpdir}} against the installed
package, so C{bench} is found in the checkout: C{$TXZAQAR_SOURCE_DIR}
(the C{tests} env sets it), the tree this module is in (a development
install), or the parent of C{$TOX_WORK_DIR} (tox's default C{.tox}: the
unit envs).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from twisted.trial.unittest import SkipTest

SOURCE_DIR_ENV = "TXZAQAR_SOURCE_DIR"


def _is_checkout(tree: Path) -> bool:
    return (tree / "tox.ini").is_file() and (tree / "bench" / "run.py").is_file()


def checkout() -> Path | None:
    """The source checkout with C{bench/}, or C{None} where there is none."""
    candidates = [Path(__file__).resolve().parents[3]]
    given = os.environ.get(SOURCE_DIR_ENV)
    if given:
        candidates.insert(0, Path(given).resolve())
    work = os.environ.get("TOX_WORK_DIR")
    if work:
        candidates.append(Path(work).resolve().parent)
    return next((tree for tree in candidates if _is_checkout(tree)), None)


def bench_module(name: str) -> ModuleType:
    """
    Import C{bench.<name>} from the checkout.

    @raise SkipTest: there is no source checkout (an installed package
        with no C{$TXZAQAR_SOURCE_DIR}), the only reason to skip.
    """
    tree = checkout()
    if tree is None:
        raise SkipTest(f"no source checkout with bench/ (set ${SOURCE_DIR_ENV} to the checkout)")
    if str(tree) not in sys.path:
        sys.path.append(str(tree))
    module = importlib.import_module(f"bench.{name}")
    found = Path(module.__file__ or "").resolve()
    if tree / "bench" not in found.parents:
        raise AssertionError(f"bench.{name} was imported from {found}, not from the checkout {tree}")
    return module
