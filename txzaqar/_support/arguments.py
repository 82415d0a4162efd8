"""
Checks of the arguments of L{txzaqar.connect}, the authenticators and the
TLS policy, made when they are called (before any pool or thread exists),
so that a mistake fails at once with a L{ClientValidationError} naming
the argument, never at the first request or silently.

Header text: ids, project names, roles and tokens travel in HTTP headers,
which carry latin-1 text; so they must encode to latin-1 and hold no
control character (a CR or LF would end the header).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ..errors import ClientValidationError

__all__ = ["boolean", "client_id", "header_text", "http_url", "optional_path", "roles"]


def boolean(field: str, value: object) -> bool:
    """
    A C{bool}: C{"no"}, C{"false"}, C{0} or C{None} are refused, since
    any non-empty string would read as true.

    @raise ClientValidationError: not a C{bool}.
    """
    if not isinstance(value, bool):
        raise ClientValidationError(field, f"must be True or False, not {value!r:.40}")
    return value


def http_url(field: str, value: object) -> str:
    """
    An C{http://} or C{https://} URL with a host (a name, an IPv4 or a
    bracketed IPv6 address), an optional port and path prefix; no query,
    fragment or credentials, which a base URL cannot carry.

    @raise ClientValidationError: anything else.
    """
    if not isinstance(value, str):
        raise ClientValidationError(field, f"must be an http:// or https:// URL, not {value!r:.60}")
    if any(c <= " " or c == "\x7f" for c in value):
        raise ClientValidationError(field, f"{value!r:.80} holds a space or a control character")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as e:
        raise ClientValidationError(field, f"{value!r:.80} is not a URL: {e}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ClientValidationError(field, f"{value!r:.80}: the scheme must be http or https")
    if not parts.hostname:
        raise ClientValidationError(field, f"{value!r:.80} has no host")
    if parts.username is not None or parts.password is not None:
        raise ClientValidationError(field, "must not hold credentials (user:password@): give them as options")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ClientValidationError(field, f"{value!r:.80}: a base URL has no query or fragment")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise ClientValidationError(field, f"{value!r:.80}: the host is not a valid domain name") from None
    return value


def header_text(field: str, value: object, max_length: int = 256) -> str:
    """
    Non-empty text that can travel in an HTTP header: latin-1, no control
    character, at most C{max_length} characters.

    @raise ClientValidationError: anything else.
    """
    if not isinstance(value, str) or not value:
        raise ClientValidationError(field, f"must be a non-empty string, not {value!r:.40}")
    if len(value) > max_length:
        raise ClientValidationError(field, f"must be at most {max_length} characters")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ClientValidationError(
            field, f"{value!r:.60} cannot travel in an HTTP header: latin-1 characters only"
        ) from None
    if any(c < " " or c == "\x7f" for c in value):
        raise ClientValidationError(field, f"{value!r:.60} holds a control character")
    return value


def roles(value: object) -> tuple[str, ...]:
    """
    A sequence (list, tuple) of role names for C{X-Roles}: header text
    without commas.  A bare string is refused: it would be split into
    letters.

    @raise ClientValidationError: anything else.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ClientValidationError("roles", f"must be a list of role names (e.g. ['admin']), not {value!r:.40}")
    names = tuple(header_text("roles", name, max_length=255) for name in value)
    for name in names:
        if "," in name:
            raise ClientValidationError("roles", f"{name!r:.40}: a role name has no comma")
    return names


def client_id(value: object) -> str:
    """
    A C{Client-ID}: a UUID in any of the forms Python's L{uuid.UUID}
    reads (what Zaqar checks it with), upper or lower case.

    @raise ClientValidationError: anything else.
    """
    if not isinstance(value, str):
        raise ClientValidationError("client_id", f"must be a UUID string, not {value!r:.40}")
    try:
        uuid.UUID(value)
    except ValueError:
        raise ClientValidationError("client_id", f"{value!r:.60} is not a UUID (Zaqar requires one)") from None
    return value


def optional_path(field: str, value: object) -> str | None:
    """C{None}, or a file path (C{str} or C{os.PathLike}) as a C{str}."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ClientValidationError(field, f"must be a file path, not {value!r:.40}")
    return value


def tls_files(cacert: object, cert: object, key: object,
              insecure: object) -> tuple[str | None, str | None, str | None, bool]:
    """
    Check TLS settings (for Zaqar or for Keystone): C{insecure} a C{bool},
    the others file paths or C{None}, and no C{key} without its C{cert}.

    @return: C{(cacert, cert, key, insecure)}, the paths as C{str}.
    """
    flag = boolean("insecure", insecure)
    cacert_path = optional_path("cacert", cacert)
    cert_path = optional_path("cert", cert)
    key_path = optional_path("key", key)
    if key_path and not cert_path:
        raise drop("key", "no cert", "give the client certificate as cert= too, or drop key=")
    return cacert_path, cert_path, key_path, flag


def drop(field: str, conflict: str, advice: str) -> ClientValidationError:
    """The error for C{field} given together with C{conflict}: C{advice} says which to drop."""
    return ClientValidationError(field, f"cannot be given with {conflict}: {advice}")


def given(**values: Any) -> list[str]:
    """The names of the values that are given (not C{None}, not C{False})."""
    return [name for name, value in values.items() if value is not None and value is not False]
