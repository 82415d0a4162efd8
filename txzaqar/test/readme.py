"""
The README's code blocks, as the tests that run them see them: each block
with its section, its kind (C{python}, C{sh}, C{ini}, C{yaml}, or
C{literal} for a C{::} block) and, for shell blocks, its commands with
continuation lines joined.
"""

from __future__ import annotations

import re
import textwrap
from importlib import metadata
from pathlib import Path

import attr

#: The checkout's README (the tests fall back to the installed metadata).
README = Path(__file__).resolve().parents[2] / "README.rst"

_UNDERLINE = re.compile(r"^(=+|-+|~+)$")
_DIRECTIVE = re.compile(r"^\.\. code-block:: *(\w+)\s*$")


@attr.s(frozen=True, auto_attribs=True)
class Block:
    """One code block of the README."""

    section: str
    kind: str
    text: str
    line: int  # 1-based line of its first line

    def commands(self) -> list[str]:
        """The shell commands of the block: comments dropped, C{\\}-continued lines joined."""
        commands: list[str] = []
        pending = ""
        for raw in self.text.splitlines():
            line = raw.split(" # ", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
            if not line and not pending:
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            commands.append((pending + line.strip()).strip())
            pending = ""
        return [c for c in commands if c]


def readme_text(readme: Path = README) -> str:
    """The README of the checkout, else the installed distribution's long description."""
    if readme.exists():
        return readme.read_text(encoding="utf-8")
    return str(metadata.metadata("txzaqar").get_payload())  # type: ignore[attr-defined]


def blocks(text: str | None = None) -> list[Block]:
    """Every code block of the README, in order."""
    lines = (readme_text() if text is None else text).splitlines()
    found: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and _UNDERLINE.match(lines[i + 1]) \
                and len(lines[i + 1]) >= len(line.rstrip()):
            section = line.strip()
            i += 2
            continue
        directive = _DIRECTIVE.match(line.strip())
        kind = directive.group(1) if directive else ("literal" if line.rstrip().endswith("::") else None)
        if kind is None or line.lstrip().startswith(".. ") and not directive:
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        j = i + 1
        body: list[str] = []
        start = None
        while j < len(lines):
            current = lines[j]
            if current.strip() and len(current) - len(current.lstrip()) <= indent:
                break
            if current.strip() and start is None:
                start = j
            if start is not None:
                body.append(current)
            j += 1
        while body and not body[-1].strip():
            body.pop()
        if body and start is not None:
            found.append(Block(section, kind, textwrap.dedent("\n".join(body)) + "\n", start + 1))
        i = j
    return found


def section_blocks(title: str, kind: str | None = None) -> list[Block]:
    """The blocks of the section called C{title} (and of C{kind})."""
    return [b for b in blocks() if b.section == title and (kind is None or b.kind == kind)]
