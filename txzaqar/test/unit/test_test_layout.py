"""
The suite's layout, as the README promises it: every public library module
has a test module named after it, and no test module imports another (what
test modules share lives in L{txzaqar.test.helpers}).
"""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import txzaqar

#: The package's directory.
PACKAGE = Path(txzaqar.__file__).resolve().parent

#: Public modules without a test module of their name, each with the reason.
NO_TEST_MODULE: dict[str, str] = {}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """The dotted name of the module at C{path} (a file under C{package})."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """
    C{(line, dotted name)} of every module the file at C{path} imports,
    anywhere in it (functions too), relative imports resolved; for C{from
    X import a, b} both C{X} and C{X.a}, C{X.b} (either may be a module).
    """
    here = module_name(path, package).split(".")[:-1]  # the importing module's package
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def is_test_module(name: str) -> bool:
    """Whether C{name} is a test module of the suite (C{txzaqar.test...test_*})."""
    parts = name.split(".")
    return parts[:2] == ["txzaqar", "test"] and parts[-1].startswith("test_")


def test_modules(package: Path = PACKAGE) -> list[Path]:
    """Every C{test_*.py} under C{txzaqar/test}."""
    return sorted((package / "test").rglob("test_*.py"))


def cross_imports(package: Path = PACKAGE) -> list[str]:
    """One line per import of a test module by another test module."""
    return [f"{path.relative_to(package.parent)}:{line} imports {name}"
            for path in test_modules(package)
            for line, name in imported_modules(path, package) if is_test_module(name)]


def public_modules(package: Path = PACKAGE) -> list[str]:
    """
    The public library modules by the name their test module takes, their
    path under the package joined by C{_}: C{errors} for
    C{txzaqar/errors.py}, C{api_queue} for C{txzaqar/api/queue.py},
    C{subscriber_polling} for C{txzaqar/subscriber/polling.py}, at any
    depth; C{test}, C{testing}, private names, C{__init__} and C{__main__}
    left out.
    """
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[0] in ("test", "testing") or any(part.startswith("_") for part in parts):
            continue
        names.append("_".join(parts))
    return names


def untested_modules(package: Path = PACKAGE) -> list[str]:
    """The public modules with no C{test_<name>.py} under C{txzaqar/test} and no listed reason."""
    have = {path.stem for path in test_modules(package)}
    return [name for name in public_modules(package)
            if f"test_{name}" not in have and name not in NO_TEST_MODULE]


class LayoutTests(SynchronousTestCase):
    def test_no_test_module_imports_another(self) -> None:
        """Test modules share code through C{txzaqar.test.helpers}, never by importing each other."""
        self.assertEqual(cross_imports(), [])

    def test_every_public_module_has_a_test_module(self) -> None:
        """C{txzaqar/api/claim.py} has C{test_api_claim.py}, C{txzaqar/subscriber/slots.py} C{test_subscriber_slots.py}."""
        self.assertEqual(untested_modules(), [])

    def test_exceptions_are_real(self) -> None:
        """Each listed exception is a public module that still has no test module of its name."""
        have = {path.stem for path in test_modules()}
        for name in NO_TEST_MODULE:
            self.assertIn(name, public_modules())
            self.assertNotIn(f"test_{name}", have)


class CheckTests(SynchronousTestCase):
    """The checks above find what they look for (on a tree of the test's own)."""

    def tree(self, files: dict[str, str]) -> Path:
        root = Path(self.mktemp()) / "txzaqar"
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        return root

    def test_cross_imports_found(self) -> None:
        root = self.tree({
            "test/unit/test_a.py": "from txzaqar.test.unit.test_b import X\n",
            "test/unit/test_b.py": "from .test_c import Y\nX = 1\n",
            "test/unit/test_c.py": "def f():\n    from txzaqar.test.integration import test_d\nY = 1\n",
            "test/unit/test_ok.py": "from txzaqar.test.helpers.waiting import wait_until\nimport txzaqar.testing\n",
            "test/integration/test_d.py": "import txzaqar.test.unit.test_a\n",
        })
        self.assertEqual([line.split(" imports ")[1] for line in cross_imports(root)], [
            "txzaqar.test.unit.test_a",
            "txzaqar.test.unit.test_b",
            "txzaqar.test.unit.test_c",
            "txzaqar.test.integration.test_d",
        ])

    def test_untested_modules_found(self) -> None:
        root = self.tree({
            "queue.py": "", "_private.py": "", "__init__.py": "", "__main__.py": "",
            "subscriber/polling.py": "", "subscriber/_inner.py": "", "testing/memory.py": "",
            "claim.py": "", "test/unit/test_claim.py": "", "test/integration/test_subscriber_polling.py": "",
            "api/__init__.py": "", "api/values.py": "", "api/_paging.py": "", "_support/threads.py": "",
            "daemon/deep/options.py": "", "test/unit/test_api_values.py": "",
        })
        self.assertEqual(public_modules(root), ["api_values", "claim", "daemon_deep_options", "queue",
                                                "subscriber_polling"])
        self.assertEqual(untested_modules(root), ["daemon_deep_options", "queue"])
