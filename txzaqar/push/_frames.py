"""
The JSON text frames of Zaqar's WebSocket transport: what a push source
sends and what it makes of what it receives (see Zaqar's
C{zaqar/transport/websocket/protocol.py} and C{zaqar/api/v2/request.py}).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attr

#: The actions a push source sends.
AUTHENTICATE = "authenticate"
SUBSCRIPTION_CREATE = "subscription_create"
SUBSCRIPTION_DELETE = "subscription_delete"


def request(action: str, headers: Mapping[str, str], body: Mapping[str, Any] | None = None) -> bytes:
    """
    One request frame.

    @param action: the Zaqar action (C{subscription_create}, ...).
    @param headers: the frame's headers (C{Client-ID}, C{X-Project-ID}, ...).
    @param body: the action's arguments; omitted when C{None}.
    @return: the frame's UTF-8 JSON text.
    """
    frame: dict[str, Any] = {"action": action, "headers": dict(headers)}
    if body is not None:
        frame["body"] = dict(body)
    return json.dumps(frame).encode("utf-8")


@attr.s(frozen=True, auto_attribs=True)
class Reply:
    """The server's answer to a request frame."""

    #: The action answered (C{None} if the server could not read it).
    action: str | None
    #: The status, as an HTTP status code.
    status: int
    #: The C{queue_name} of the request, if it had one.
    queue_name: str | None
    #: The reply's body (a C{dict}, or a C{str} for some actions).
    body: Any

    def error(self) -> str:
        """@return: the server's error text (or the status), for a log or a push_down reason."""
        if isinstance(self.body, Mapping) and isinstance(self.body.get("error"), str):
            return f"{self.status} {self.body['error']}"
        if isinstance(self.body, str):
            return f"{self.status} {self.body}"
        return str(self.status)


@attr.s(frozen=True, auto_attribs=True)
class Notification:
    """A push: a message was posted to C{queue_name} (no id: only a wake-up)."""

    #: The queue the message was posted to.
    queue_name: str


def parse(payload: bytes | str) -> Reply | Notification | None:
    """
    Read one received frame.

    @param payload: the frame's text.
    @return: a L{Reply}, a L{Notification}, or C{None} for anything else
        (not JSON, not an object, a shape we do not know).
    """
    try:
        frame = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(frame, dict):
        return None
    if frame.get("Message_Type") == "Notification":
        queue = frame.get("queue_name")
        return Notification(queue) if isinstance(queue, str) else None
    headers = frame.get("headers")
    echoed = frame.get("request")
    if not isinstance(headers, dict) or not isinstance(echoed, dict):
        return None
    status = headers.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        return None
    action = echoed.get("action")
    sent_body = echoed.get("body")
    queue = sent_body.get("queue_name") if isinstance(sent_body, dict) else None
    return Reply(
        action=action if isinstance(action, str) else None,
        status=status,
        queue_name=queue if isinstance(queue, str) else None,
        body=frame.get("body"),
    )
