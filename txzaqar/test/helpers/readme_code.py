"""
Running the README's Python blocks against a real Zaqar: a block's source
with the placeholder URL replaced (C{block_source}), run with top-level
C{await} (C{run_block}), a C{print} that keeps its lines (C{Printed}), the
comment the README shows beside a line (C{comment_of}), and a test case
on the shared server whose project is emptied before and after
(C{ReadmeTestCase}).
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

import txzaqar
from txzaqar.test import readme
from txzaqar.testing import shared_zaqar

__all__ = ["PLACEHOLDER", "PROJECT", "Printed", "ReadmeTestCase", "block_source", "clear_project", "comment_of",
           "run_block"]


#: The placeholder URL of the README's blocks.
PLACEHOLDER = "http://127.0.0.1:8888"
#: The project the README's blocks use.
PROJECT = "demo"


class Printed:
    """A C{print} that keeps each printed line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, *args: Any, sep: str = " ", end: str = "\n", **kwargs: Any) -> None:
        self.lines.extend((sep.join(str(a) for a in args) + end).splitlines())


def block_source(block: readme.Block, url: str, replace: dict[str, str] | None = None) -> str:
    """
    The block's text with the placeholder URL replaced by C{url} (and each
    key of C{replace} by its value), padded so that line numbers are the
    README's.
    """
    text = block.text.replace(PLACEHOLDER, url)
    for old, new in (replace or {}).items():
        if old not in text:
            raise AssertionError(f"{block.describe()} no longer has {old!r}: update this test")
        text = text.replace(old, new)
    return "\n" * (block.line - 1) + text


async def run_block(block: readme.Block, namespace: dict[str, Any], url: str,
                    replace: dict[str, str] | None = None) -> None:
    """Execute the block in C{namespace}, awaiting it if it has top-level C{await}."""
    code = compile(block_source(block, url, replace), "README.rst", "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result


def comment_of(block: readme.Block, code: str) -> str:
    """The comment the README prints beside the line of the block that contains C{code}."""
    lines = [line for line in block.text.splitlines() if code in line and " # " in line]
    if len(lines) != 1:
        raise AssertionError(f"{block.describe()}: no one line with {code!r} and a comment")
    return lines[0].split(" # ", 1)[1].strip()


async def clear_project(url: str) -> None:
    """Delete every queue of the README's project on the shared server."""
    client = txzaqar.connect(url, project_id=PROJECT, reactor=reactor)
    try:
        for queue in await client.queues():
            await queue.delete()
    finally:
        await client.close()


class ReadmeTestCase(unittest.TestCase):
    timeout = 120

    def setUp(self) -> Deferred[None]:  # type: ignore[override]  # trial waits for it
        self.zaqar = shared_zaqar()
        self.url = self.zaqar.url
        self.client = txzaqar.connect(self.url, project_id=PROJECT, reactor=reactor)
        self.addCleanup(self.client.close)
        self.addCleanup(lambda: Deferred.fromCoroutine(clear_project(self.url)))
        return Deferred.fromCoroutine(clear_project(self.url))
