"""
The README's "Where things live" against the tree: it names every package
and top-level module of C{txzaqar/}, and every C{txzaqar/...} path it
names exists.
"""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import txzaqar
from txzaqar.test import readme

#: The package's directory.
PACKAGE = Path(txzaqar.__file__).resolve().parent

#: A path under the package, as the README writes it (C{``txzaqar/api/``}, C{``txzaqar/errors.py``}).
PATH = re.compile(r"``txzaqar/([A-Za-z0-9_/]+?(?:/|\.py))``")


def section(text: str, title: str = "Where things live") -> str:
    """The text of the README section C{title}, up to the next section title."""
    lines = text.splitlines()
    start = lines.index(title) + 2
    end = next((i - 1 for i in range(start + 1, len(lines))
                if lines[i] and set(lines[i]) <= set("-=~") and len(lines[i]) == len(lines[i - 1])), len(lines))
    return "\n".join(lines[start:end])


def named_paths(text: str) -> set[str]:
    """Every path under the package the text names (C{api/}, C{errors.py}, C{test/helpers/})."""
    return set(PATH.findall(text))


def top_level(package: Path = PACKAGE) -> set[str]:
    """The packages (C{api/}) and modules (C{errors.py}) at the top of the package."""
    return ({f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
            | {p.name for p in package.glob("*.py")})


def differences(text: str, package: Path = PACKAGE) -> tuple[list[str], list[str]]:
    """C{(in the tree but not in the map, in the map but not in the tree)}."""
    named = named_paths(text)
    missing = sorted(top_level(package) - {name.split("/")[0] + "/" if "/" in name else name for name in named})
    stale = sorted(name for name in named if not (package / name).exists())
    return missing, stale


class ReadmeLayoutTests(SynchronousTestCase):
    def test_map_is_the_tree(self) -> None:
        """Every package and top-level module is in the map, and everything it names is there."""
        self.assertEqual(differences(section(readme.readme_text())), ([], []))


class CheckTests(SynchronousTestCase):
    """The check finds what it looks for, on a tree and a map of the test's own."""

    def test_found(self) -> None:
        root = Path(self.mktemp()) / "txzaqar"
        for name in ("__init__.py", "errors.py", "api/__init__.py", "api/queue.py", "ops/__init__.py",
                     "data/readme.txt"):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text("")
        text = "* ``txzaqar/api/``: ``queue``, see ``txzaqar/api/gone.py``;\n* ``txzaqar/old.py``; ``txzaqar/__init__.py``"
        self.assertEqual(differences(text, root), (["errors.py", "ops/"], ["api/gone.py", "old.py"]))

    def test_section(self) -> None:
        text = "Intro\n=====\n\nA\n\nWhere things live\n-----------------\n\nthe map\n\nNext\n----\n\nafter\n"
        self.assertEqual(section(text).strip(), "the map")
