"""
The README's blocks, each proven.

The "Testing your handlers" example runs as it is written: the code block
of that section is extracted from C{README.rst} (or, when the package is
installed rather than run from a checkout, from the installed
distribution's long description, which is the README) and executed here,
so the test case it defines (C{ShippingTests}) is collected by trial with
the rest of the suite.

L{RegistryTests} checks that every block of the README has an entry in
L{txzaqar.test.readme.REGISTRY} saying which test runs it (or what else
does), and that every entry still names a block.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from twisted.python.reflect import namedAny
from twisted.trial.unittest import SynchronousTestCase as _SynchronousTestCase

from txzaqar.test import readme as _readme
from txzaqar.test.readme import README, readme_text


def readme_example(readme: Path = README) -> str:
    """The first C{code-block} of the section titled "Testing your handlers"."""
    text = readme_text(readme)
    title = "Testing your handlers\n=====================\n"
    if title not in text:
        raise AssertionError(f"no 'Testing your handlers' section in {readme} (or the metadata)")
    section = text.split(title, 1)[1]
    section = re.split(r"\n[^\n]+\n=+\n", section, maxsplit=1)[0]
    match = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", section)
    if match is None:
        raise AssertionError("no code block in the README's 'Testing your handlers' section")
    return textwrap.dedent(match.group(1))


exec(compile(readme_example(), "README.rst", "exec"), globals())


def _entry(entry: _readme.Entry) -> str:
    return f"Entry({entry.section!r}, {entry.snippet!r}, ...)"


class RegistryTests(_SynchronousTestCase):
    """
    Every block of the README is registered with how it is proven, and
    every entry of the registry still names exactly one block.
    """

    def unregistered(self, registry: tuple[_readme.Entry, ...], text: str) -> list[str]:
        """A problem per block of C{text} without exactly one entry in C{registry}."""
        problems = []
        for block in _readme.blocks(text):
            claims = [e for e in registry if e.matches(block)]
            if not claims:
                problems.append(
                    f"{block.describe()} is in no entry of txzaqar.test.readme.REGISTRY: make a "
                    f"test run it (or name what does) and add Entry({block.section!r}, "
                    f"<a unique snippet of its first line>, Run('dotted.test.name') or "
                    f"ProvedBy('how', tox_env=...))"
                )
            elif len(claims) > 1:
                problems.append(
                    f"{block.describe()} matches {len(claims)} registry entries "
                    f"({', '.join(_entry(e) for e in claims)}): make their snippets unique"
                )
        return problems

    def stale(self, registry: tuple[_readme.Entry, ...], text: str) -> list[str]:
        """A problem per entry of C{registry} that names no block of C{text}, or several."""
        problems = []
        found = _readme.blocks(text)
        for entry in registry:
            matched = [b for b in found if entry.matches(b)]
            if len(matched) != 1:
                problems.append(
                    f"{_entry(entry)} of txzaqar.test.readme.REGISTRY names {len(matched)} README "
                    f"blocks, not 1: the block is gone or changed its first line; update the "
                    f"entry (and its test) or remove both"
                )
        return problems

    def test_every_block_registered(self) -> None:
        """Each block of the README has exactly one entry."""
        problems = self.unregistered(_readme.REGISTRY, readme_text())
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_every_entry_names_a_block(self) -> None:
        problems = self.stale(_readme.REGISTRY, readme_text())
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_unregistered_block_fails(self) -> None:
        """
        A new block (say, an Operations section's C{ini} block) is reported
        with its section, line and first line, and what to do.
        """
        text = readme_text() + textwrap.dedent("""

            Operations
            ==========

            .. code-block:: ini

                [Service]
                ExecStart=twistd -n zaqar-listen
            """)
        problems = self.unregistered(_readme.REGISTRY, text)
        self.assertEqual(len(problems), 1, problems)
        line = len(text.splitlines()) - 1
        self.assertIn(f"the ini block at README.rst line {line} in section 'Operations': '[Service]'",
                      problems[0])
        self.assertIn("add Entry('Operations',", problems[0])

    def test_removed_block_fails(self) -> None:
        """An entry whose block is gone is reported."""
        registry = (*_readme.REGISTRY, _readme.Entry("Install", "pip install nothing", _readme.ProvedBy("x")))
        problems = self.stale(registry, readme_text())
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("Entry('Install', 'pip install nothing', ...)", problems[0])
        self.assertIn("names 0 README blocks", problems[0])

    def test_snippet_end_of_line(self) -> None:
        """C{$} ends a snippet at the end of the line: one of two commands, one a prefix of the other."""
        quick = _readme.section_blocks("Quick start")
        ends = _readme.Entry("Quick start", "python3 -m tox p$", _readme.ProvedBy("x"))
        contains = _readme.Entry("Quick start", "python3 -m tox", _readme.ProvedBy("x"))
        self.assertEqual(sum(ends.matches(b) for b in quick), 1)
        self.assertEqual(sum(contains.matches(b) for b in quick), 2)

    def test_runs_name_tests(self) -> None:
        """Each C{Run} names a test that exists (a module, a TestCase or a test method)."""
        for entry in _readme.REGISTRY:
            if isinstance(entry.proof, _readme.Run):
                with self.subTest(entry=_entry(entry)):
                    target = namedAny(entry.proof.test)
                    self.assertTrue(callable(target) or hasattr(target, "__file__"), target)

    def test_proofs_name_what_exists(self) -> None:
        """Each C{ProvedBy} names a tox env that tox.ini has, or a line of C{.ci/run}."""
        tree = _readme.source_dir()
        if tree is None:
            raise self.skipTest(f"no source checkout (set ${_readme.SOURCE_DIR_ENV})")
        envs = _readme.tox_envs(tree / "tox.ini")
        ci = (tree / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        for entry in _readme.REGISTRY:
            proof = entry.proof
            if isinstance(proof, _readme.ProvedBy):
                with self.subTest(entry=_entry(entry)):
                    self.assertTrue(proof.how)
                    self.assertTrue(proof.tox_env or proof.ci_command, "name a tox env or a CI command")
                    if proof.tox_env:
                        self.assertIn(proof.tox_env, envs)
                    if proof.ci_command:
                        self.assertIn(proof.ci_command, ci)
