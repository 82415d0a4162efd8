"""
The regression C{--break} plants, to show that the suite catches it: the
library's acknowledgement retries removed.

A Subscriber acknowledges with C{Queue.delete_messages}, whose DELETEs the
L{Connection} retries (up to C{Connection.retries} more attempts) after a
connection failure, a timeout or a 5xx.  L{remove_acknowledgement_retries}
makes every connection send each DELETE of messages once and never retry
it; every other request keeps its retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from txzaqar.http.connection import Connection

from .tracing import deleted_ids


class _WithoutRetries:
    """A connection as C{Connection._attempts} sees it, with C{retries} 0."""

    retries = 0

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _names_messages(method: str, path: str) -> bool:
    # the path as the library passes it (relative, without the query)
    return method == "DELETE" and (path.rstrip("/").endswith("/messages") or bool(deleted_ids(method, path)))


def remove_acknowledgement_retries() -> Callable[[], None]:
    """
    Patch L{Connection} so that a DELETE of messages (C{.../messages},
    bulk, or C{.../messages/ID}) is attempted once only.

    @return: a function that undoes the patch.
    """
    original = Connection._attempts

    async def attempts(self: Connection, method: str, path: str, *rest: Any) -> Any:
        if _names_messages(method, path):
            return await original(_WithoutRetries(self), method, path, *rest)  # type: ignore[arg-type]
        return await original(self, method, path, *rest)

    Connection._attempts = attempts  # type: ignore[method-assign,assignment]

    def undo() -> None:
        Connection._attempts = original  # type: ignore[method-assign]

    return undo
