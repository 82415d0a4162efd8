"""
Client-side checks with the limits of a default Zaqar 23.0.1 server, so
that a request the server would refuse is never sent.

Every check raises L{ClientValidationError} naming the field and the bound.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ClientValidationError  # noqa: F401 (re-exported for _validation users)

QUEUE_NAME_RE = re.compile(r"^[a-zA-Z0-9_\-.]+$")
MAX_QUEUE_NAME = 64
MAX_PAGE = 20
MAX_CLAIM_OR_POP = 20
MAX_IDS = 20
MAX_POST_SIZE = 262144
MAX_METADATA_SIZE = 65536
MESSAGE_TTL = (60, 1209600)
MESSAGE_DELAY = (0, 900)
CLAIM_TTL = (60, 43200)
CLAIM_GRACE = (60, 43200)
MIN_SUBSCRIPTION_TTL = 60
MAX_INT64 = 2**63 - 1


def queue_name(name: object) -> str:
    """Check a queue name; return it."""
    if not isinstance(name, str):
        raise ClientValidationError(
            "queue name", f"must be a string, not {type(name).__name__}"
        )
    if not name:
        raise ClientValidationError("queue name", "must not be empty")
    if len(name) > MAX_QUEUE_NAME:
        raise ClientValidationError(
            "queue name",
            f"{name[:20]!r}... is {len(name)} characters; at most {MAX_QUEUE_NAME}",
        )
    if not QUEUE_NAME_RE.match(name):
        raise ClientValidationError(
            "queue name",
            f"{name!r} may only contain letters, digits, '_', '-' and '.'",
        )
    return name


def integer(field: str, value: object, low: int, high: int) -> int:
    """Check that C{value} is an C{int} within [low, high]; return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ClientValidationError(
            field, f"must be an integer, not {type(value).__name__}"
        )
    if not low <= value <= high:
        raise ClientValidationError(
            field, f"{value} is out of range: must be from {low} to {high}"
        )
    return value


def optional_integer(field: str, value: object, low: int, high: int) -> int | None:
    """Like L{integer}, letting C{None} through."""
    if value is None:
        return None
    return integer(field, value, low, high)


def page_limit(value: object, field: str = "limit") -> int:
    return integer(field, value, 1, MAX_PAGE)


def string_list(field: str, values: Any) -> list[str]:
    """Check a non-empty list of non-empty strings (ids); return it as a list."""
    if isinstance(values, (str, bytes)):
        raise ClientValidationError(field, "must be a list of strings, not a string")
    try:
        result = list(values)
    except TypeError:
        raise ClientValidationError(field, "must be a list of strings") from None
    for v in result:
        if not isinstance(v, str) or not v:
            raise ClientValidationError(field, f"contains {v!r}: ids are non-empty strings")
    return result


def path_segment(field: str, value: object) -> str:
    """Check an id that goes into a URL path."""
    if not isinstance(value, str) or not value:
        raise ClientValidationError(field, f"must be a non-empty string, not {value!r}")
    if "/" in value or "?" in value or "#" in value:
        raise ClientValidationError(field, f"{value!r} must not contain '/', '?' or '#'")
    return value
