"""
The public names pydoctor's "undocumented" page lists (standard library
only, so that the unit tests can check it without pydoctor).

A name is public when no part of its dotted path starts with C{_} and it
is not in the test suite (C{txzaqar.test}); pydoctor lists every visible
object without a docstring, private ones and dunder methods included.
"""

from __future__ import annotations

from html.parser import HTMLParser

#: The file pydoctor writes the undocumented objects to, in its output directory.
SUMMARY_PAGE = "undoccedSummary.html"
#: The package whose names need no docstring (the trial suite).
TEST_PACKAGE = "txzaqar.test"


def is_public(name: str) -> bool:
    """Whether C{name} (a dotted path) is part of the documented API."""
    if name == TEST_PACKAGE or name.startswith(TEST_PACKAGE + "."):
        return False
    return not any(part.startswith("_") for part in name.split("."))


class _SummaryParser(HTMLParser):
    """The text of each link inside C{<ul id="summary-tree">}."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self._depth = 0  # of <ul> elements, counting from the summary tree
        self._link: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "ul" and (self._depth or ("id", "summary-tree") in attrs):
            self._depth += 1
        elif tag == "a" and self._depth:
            self._link = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul" and self._depth:
            self._depth -= 1
        elif tag == "a" and self._link is not None:
            self.names.append("".join(self._link).strip())
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link.append(data)


def undocumented_public(summary_html: str) -> list[str]:
    """
    The public names on pydoctor's undocumented page.

    @param summary_html: the text of L{SUMMARY_PAGE}.
    @return: the names, in the page's (alphabetical) order.
    """
    parser = _SummaryParser()
    parser.feed(summary_html)
    parser.close()
    return [name for name in parser.names if is_public(name)]
