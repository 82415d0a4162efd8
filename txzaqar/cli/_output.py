"""
What the command line prints: a table for a person (the default on a
terminal), or one JSON object per line for a script (C{--format json}).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

#: The values of C{--format}.
FORMATS = ("table", "json")


def default_format(stream: Any) -> str:
    """C{"table"} when C{stream} is a terminal, else C{"json"}."""
    isatty = getattr(stream, "isatty", None)
    return "table" if isatty is not None and isatty() else "json"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


class Output:
    """
    Rows (mappings) written to C{stream} in C{format}; a table's columns are
    the ones given, a JSON line holds every key of the row.
    """

    def __init__(self, stream: TextIO, format: str) -> None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
        #: Where the rows go.
        self.stream = stream
        #: C{"table"} or C{"json"}.
        self.format = format
        self._header_written = False

    def rows(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
        """A whole table (aligned columns under a header), or one JSON line per row."""
        rows = list(rows)
        if self.format == "json":
            for row in rows:
                self.row(row, columns)
            return
        cells = [[_cell(row.get(c)) for c in columns] for row in rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        for line in [list(columns)] + cells:
            self.stream.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")
        self.stream.flush()

    def row(self, row: Mapping[str, Any], columns: Sequence[str]) -> None:
        """One row as it comes (a stream: C{tail}): a JSON line, or a tab-separated line after a header."""
        if self.format == "json":
            self.stream.write(json.dumps(dict(row), sort_keys=True, default=str) + "\n")
        else:
            if not self._header_written:
                self.stream.write("\t".join(columns) + "\n")
                self._header_written = True
            self.stream.write("\t".join(_cell(row.get(c)) for c in columns) + "\n")
        self.stream.flush()

    def record(self, record: Mapping[str, Any]) -> None:
        """One object: a JSON line, or a table of C{field} and C{value} lines."""
        if self.format == "json":
            self.row(record, list(record))
            return
        self.rows([{"field": k, "value": v} for k, v in record.items()], ["field", "value"])
