"""
The README's "Testing your handlers" example, run as it is written: the
code block of that section is extracted from C{README.rst} (or, when the
package is installed rather than run from a checkout, from the installed
distribution's long description, which is the README) and executed here,
so the test case it defines is collected by trial with the rest of the
suite.
"""

from __future__ import annotations

import re
import textwrap
from importlib import metadata
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.rst"


def readme_text(readme: Path = README) -> str:
    if readme.exists():
        return readme.read_text(encoding="utf-8")
    payload = metadata.metadata("txzaqar").get_payload()  # type: ignore[attr-defined]
    return str(payload)


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
