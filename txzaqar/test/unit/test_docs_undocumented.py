"""
C{docs/undocumented.py}: which names on pydoctor's "undocumented" page
make C{tox -e docs} fail.
"""

from __future__ import annotations

import importlib.util

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.test import readme

#: One entry of the list, as pydoctor 25.10 writes it.
ENTRY = (
    '  <li>{kind} - <code><a href="{page}.html#{short}" class="internal-link">{name}</a></code></li>'
)

#: What the page lists, in its order: C{(kind, name)}.
LISTED = [
    ("Method", "txzaqar.Claim.__bool__"),
    ("Method", "txzaqar.Connection._attempt"),
    ("Instance Variable", "txzaqar.Claim.queue"),
    ("Function", "txzaqar._validation.integer"),
    ("Method", "txzaqar.test.unit.test_auth.NoAuthTests.test_headers"),
    ("Constant", "txzaqar.testing.memory.checks.MAX_CLAIM_TTL"),
]


def page(listed: list[tuple[str, str]]) -> str:
    """The shape of pydoctor's C{undoccedSummary.html} around its list."""
    entries = "\n".join(
        ENTRY.format(kind=kind, page=name.rpartition(".")[0], short=name.rpartition(".")[2], name=name)
        for kind, name in listed
    )
    return (
        '<html><body><div class="container-fluid">\n'
        '<h1 class="heading">Summary of Undocumented Objects</h1>\n'
        f'<ul id="summary-tree">\n{entries}\n</ul>\n</div>\n'
        '<footer><a href="index.html">API Documentation</a> for txzaqar</footer>\n'
        "</body></html>\n"
    )


class UndocumentedPublicTests(SynchronousTestCase):
    """L{undocumented_public} keeps the public names of the page's list, in order."""

    def setUp(self) -> None:
        tree = readme.source_dir()
        path = tree / "docs" / "undocumented.py" if tree is not None else None
        if path is None or not path.exists():
            raise self.skipTest(f"no source checkout with docs/ (set ${readme.SOURCE_DIR_ENV})")
        spec = importlib.util.spec_from_file_location("txzaqar_docs_undocumented", path)
        assert spec is not None and spec.loader is not None
        self.undocumented = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.undocumented)

    def test_public_names_only(self) -> None:
        """
        Private names, dunder methods and the test suite are left out; a
        public name anywhere else (C{txzaqar.testing} too) is kept.
        """
        self.assertEqual(
            self.undocumented.undocumented_public(page(LISTED)),
            ["txzaqar.Claim.queue", "txzaqar.testing.memory.checks.MAX_CLAIM_TTL"],
        )

    def test_links_outside_the_list_ignored(self) -> None:
        """An empty list means nothing is missing, whatever else the page links to."""
        self.assertEqual(self.undocumented.undocumented_public(page([])), [])

    def test_is_public(self) -> None:
        """C{txzaqar.test} is the suite; C{txzaqar.testing} is public API."""
        is_public = self.undocumented.is_public
        self.assertTrue(is_public("txzaqar.testing.fixed_auth.FixedHeadersAuth.fixed"))
        self.assertTrue(is_public("txzaqar.test_like"))
        self.assertFalse(is_public("txzaqar.test"))
        self.assertFalse(is_public("txzaqar.test.unit.test_auth"))
        self.assertFalse(is_public("txzaqar._tap.Options"))
        self.assertFalse(is_public("txzaqar.Client.__init__"))
