"""
The daemon's JSON log format: one flat JSON object per line, which
C{json.loads} reads and log shippers index without a schema of Twisted's.

Each line holds C{time} (ISO 8601, UTC, milliseconds), C{level}
(C{debug} ... C{critical}), C{logger} (the event's namespace, or the
stdlib logger's name), C{message} (the rendered text), C{exception} (the
traceback, when the event carries a failure), and the event's own fields
(keys not starting with C{log_}); a value JSON cannot hold is written as
its C{repr}.  Twisted's own C{jsonFileLogObserver} writes its event
serialisation instead (an RS byte before each record, the level nested,
no rendered text), which is not a log format.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import FileLogObserver, formatEvent

__all__ = ["flat_json_file_observer", "flat_json_line"]

_RESERVED = ("time", "level", "logger", "message", "exception")
#: Fields of legacy (C{twisted.python.log}) events that the line already says otherwise.
_LEGACY = ("format", "isError", "failure", "why", "printed")


def flat_json_line(event: dict[str, Any]) -> str:
    """
    One event as one line of JSON (with its newline).

    @param event: a C{twisted.logger} event.
    """
    when = event.get("log_time")
    stamp = (datetime.fromtimestamp(when, tz=UTC).isoformat(timespec="milliseconds")
             .replace("+00:00", "Z") if isinstance(when, (int, float)) else None)
    level = event.get("log_level")
    record: dict[str, Any] = {
        "time": stamp,
        "level": getattr(level, "name", None),
        "logger": event.get("log_namespace"),
        "message": formatEvent(event),
    }
    failure = event.get("log_failure")
    if failure is not None:
        try:
            record["exception"] = failure.getTraceback()
        except Exception:
            record["exception"] = repr(failure)
    for key, value in event.items():
        if key.startswith("log_") or key in _RESERVED or key in _LEGACY:
            continue
        record[key] = value
    return json.dumps(record, default=repr, ensure_ascii=True) + "\n"


def flat_json_file_observer(out: IO[Any]) -> FileLogObserver:
    """A log observer writing L{flat_json_line}s to C{out} (a text file)."""
    return FileLogObserver(out, flat_json_line)
