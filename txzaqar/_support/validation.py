"""
Client-side checks with the limits of a default Zaqar 23.0.1 server, so
that a request the server would refuse is never sent.

Every check raises L{ClientValidationError} naming the field and the bound.

The rule of every public method that returns a Deferred: argument errors
are raised at call time, synchronously, before anything is sent (never
delivered as a failed Deferred).  A failed Deferred means the request was
tried: the server, the network or the response is to blame.  So a method
runs all its checks before it builds its coroutine.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ClientValidationError  # noqa: F401 (re-exported for _validation users)

#: What a queue, pool or flavor name may be made of: Zaqar's API reference and
#: python-zaqarclient allow C{[A-Za-z0-9_-]}.  Zaqar 23.0.1's own check also lets
#: C{.} through, but on Redis a listing cuts names at their first dot (C{a.b}
#: is listed as C{a}; after C{.} the project cannot be listed at all).
QUEUE_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")
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


def queue_name(name: object, field: str = "queue name") -> str:
    """
    Check a queue name (or a pool's or flavor's: the same rule): 1 to 64
    ASCII letters, digits, C{_} and C{-}.

    @param field: the name of the argument, for the error.
    @return: C{name}.
    """
    if not isinstance(name, str):
        raise ClientValidationError(
            field, f"must be a string, not {type(name).__name__}"
        )
    if not name:
        raise ClientValidationError(field, "must not be empty")
    if len(name) > MAX_QUEUE_NAME:
        raise ClientValidationError(
            field,
            f"{name[:20]!r}... is {len(name)} characters; at most {MAX_QUEUE_NAME}",
        )
    # fullmatch: "$" would also match before a trailing newline
    if not QUEUE_NAME_RE.fullmatch(name):
        raise ClientValidationError(
            field,
            f"{name!r:.80} may only contain ASCII letters, digits, '_' and '-'",
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


def boolean(field: str, value: object) -> bool:
    """Check that C{value} is C{True} or C{False}; return it."""
    if not isinstance(value, bool):
        raise ClientValidationError(field, f"must be True or False, not {value!r:.40}")
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


def id_segment(field: str, value: object) -> str:
    """
    Check a server-made id (message, claim, subscription) that goes into a
    URL path or query: a L{path_segment} with no space or control
    character (no id Zaqar makes has one, and a URL cannot hold them raw).
    """
    path_segment(field, value)
    assert isinstance(value, str)
    if any(c <= " " or c == "\x7f" for c in value):
        raise ClientValidationError(field, f"{value!r:.80} must not contain spaces or control characters")
    return value


def positive_seconds(field: str, value: object) -> float:
    """Check a finite, positive number of seconds; return it as a C{float}."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not value > 0:
        raise ClientValidationError(field, f"must be a finite, positive number of seconds, not {value!r}")
    return float(value)


#: A surrogate code point: not Unicode text (C{"\\ud800"}, or a pair of them
#: in a C{str}, which Python keeps as two code points).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(field: str, text: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        raise ClientValidationError(
            field, f"contains the surrogate code point U+{ord(found.group()):04X}, which is not Unicode text"
        )


def json_integers(field: str, value: Any) -> None:
    """
    Check the JSON value C{value} for what Zaqar cannot take: an integer
    beyond 64 bits (Zaqar refuses it: "JSON contains integer that is too
    large") or a string (or key) with a surrogate code point such as
    C{"\\ud800"} (Zaqar answers 503 "try again" for ever).

    @raise ClientValidationError: C{value} has one.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, str):
            _text(field, item)
        elif isinstance(item, int):
            if not -MAX_INT64 - 1 <= item <= MAX_INT64:
                raise ClientValidationError(field, f"contains the integer {item}, which does not fit in 64 bits")
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str):
                    _text(field, key)
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def json_bytes(field: str, value: Any) -> bytes:
    """
    Encode C{value} as standard, compact JSON (no C{NaN} or C{Infinity},
    which Zaqar and other JSON readers may refuse or misread; no integer
    beyond 64 bits, which Zaqar refuses; no lone surrogate, which is not
    Unicode text: see L{json_integers}).

    @return: the UTF-8 bytes, as the connection sends a body it encodes
        (so their length is what the server measures).
    @raise ClientValidationError: C{value} is not such JSON.
    """
    try:
        json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise ClientValidationError(field, f"is not JSON: {e}") from None
    json_integers(field, value)  # no surrogate left: the UTF-8 encoding cannot fail
    return json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")


#: The query parameters of C{GET /v2/queues}; any other one is a metadata filter.
QUEUE_LIST_PARAMETERS = frozenset({"marker", "limit", "detailed", "name", "with_count"})


def marker(field: str, value: object) -> str | None:
    """Check a listing's resume marker (C{None}: from the start); return it."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ClientValidationError(field, f"must be a non-empty string (an id or name), not {value!r}")
    return value


def queue_filters(name: object, filters: object) -> dict[str, Any]:
    """
    Check the C{name} pattern and metadata C{filters} of a queue listing.

    @return: the query parameters they add.
    """
    params: dict[str, Any] = {}
    if name is not None:
        if not isinstance(name, str) or not name:
            raise ClientValidationError("name", f"must be a non-empty string (a regular expression), not {name!r}")
        try:
            re.compile(name)
        except re.error as e:
            raise ClientValidationError("name", f"{name!r} is not a regular expression: {e}") from None
        params["name"] = name
    if filters is not None:
        if not isinstance(filters, Mapping):
            raise ClientValidationError("filters", "must be a dict of metadata key to value")
        for key, value in filters.items():
            if not isinstance(key, str) or not key:
                raise ClientValidationError("filters", f"keys must be non-empty strings, not {key!r}")
            if key in QUEUE_LIST_PARAMETERS:
                raise ClientValidationError(
                    "filters", f"{key!r} is a listing parameter, not a metadata key the server can filter on"
                )
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise ClientValidationError(
                    "filters", f"{key!r}: values are strings or integers, not {type(value).__name__}"
                )
            if isinstance(value, int):
                integer(f"filters[{key!r}]", value, -MAX_INT64 - 1, MAX_INT64)
            elif not value:
                raise ClientValidationError("filters", f"{key!r}: an empty value is dropped by the server")
            params[key] = value
    return params


#: The keys of a pre-signed URL document (what C{POST /v2/queues/q/share} answers).
SIGNED_URL_KEYS = ("paths", "methods", "project", "expires", "signature")


def signed_url_document(data: Any) -> dict[str, Any]:
    """
    Check a signed URL document: a C{dict}, or its JSON text, with
    C{paths} and C{methods} (non-empty lists of strings) and C{project},
    C{expires} and C{signature} (non-empty strings); an optional C{url}
    (where Zaqar is) is kept.

    @return: the document as a C{dict}.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as e:
            raise ClientValidationError("signed_url", f"is not JSON: {e}") from None
    if not isinstance(data, Mapping):
        raise ClientValidationError("signed_url", "must be the JSON object Queue.share() gives")
    missing = [k for k in SIGNED_URL_KEYS if k not in data]
    if missing:
        raise ClientValidationError("signed_url", f"lacks {', '.join(missing)}")
    for key in ("paths", "methods"):
        value = data[key]
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value \
                or not all(isinstance(x, str) and x for x in value):
            raise ClientValidationError("signed_url", f"{key} must be a non-empty list of strings")
    for key in ("project", "expires", "signature"):
        if not isinstance(data[key], str) or not data[key]:
            raise ClientValidationError("signed_url", f"{key} must be a non-empty string")
    url = data.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ClientValidationError("signed_url", f"url must be an http:// or https:// URL, not {url!r}")
    return dict(data)


def websocket_url(url: object, field: str = "websocket_url") -> str:
    """
    A C{ws://} or C{wss://} URL with a host.

    @return: C{url}.
    @raise ClientValidationError: anything else.
    """
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise ClientValidationError(field, f"must be a ws:// or wss:// URL, not {url!r:.60}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ClientValidationError(field, f"{url!r:.80} is not a URL: {e}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ClientValidationError(field, f"must be a ws:// or wss:// URL with a host, not {url!r:.80}")
    del port
    return url
