"""L{txzaqar.cli._output}: tables for a person, one JSON object per line for a script."""

from __future__ import annotations

import io
import json

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.cli._output import Output, default_format


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class OutputTests(SynchronousTestCase):
    def test_default_format(self) -> None:
        """A table on a terminal, JSON anywhere else."""
        self.assertEqual(default_format(_TTY()), "table")
        self.assertEqual(default_format(io.StringIO()), "json")
        self.assertEqual(default_format(object()), "json")

    def test_json_rows(self) -> None:
        """One object a line, with every key of the row (not only the table's columns)."""
        stream = io.StringIO()
        Output(stream, "json").rows([{"id": "a", "body": {"n": 1}}, {"id": "b", "body": [2]}], ("id",))
        self.assertEqual([json.loads(line) for line in stream.getvalue().splitlines()],
                         [{"id": "a", "body": {"n": 1}}, {"id": "b", "body": [2]}])

    def test_table(self) -> None:
        """Aligned columns under a header; JSON cells for what is not a string; None empty."""
        stream = io.StringIO()
        Output(stream, "table").rows([{"id": "a", "body": {"n": 1}}, {"id": "long-id", "body": None}], ("id", "body"))
        self.assertEqual(stream.getvalue(), "id       body\na        {\"n\": 1}\nlong-id\n")

    def test_record(self) -> None:
        """One object: field and value lines in a table, one line in JSON."""
        table, lines = io.StringIO(), io.StringIO()
        Output(table, "table").record({"name": "jobs", "total": 3})
        Output(lines, "json").record({"name": "jobs", "total": 3})
        self.assertEqual(table.getvalue(), "field  value\nname   jobs\ntotal  3\n")
        self.assertEqual(lines.getvalue(), '{"name": "jobs", "total": 3}\n')

    def test_stream(self) -> None:
        """Rows one at a time (tail): a header once, then tab-separated lines."""
        stream = io.StringIO()
        out = Output(stream, "table")
        out.row({"id": "a", "body": 1}, ("id", "body"))
        out.row({"id": "b", "body": "x"}, ("id", "body"))
        self.assertEqual(stream.getvalue(), "id\tbody\na\t1\nb\tx\n")

    def test_unknown_format(self) -> None:
        self.assertRaises(ValueError, Output, io.StringIO(), "yaml")
