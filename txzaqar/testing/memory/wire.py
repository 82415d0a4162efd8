"""
What the in-memory Zaqar says on the wire, as Zaqar 23.0.1 (Falcon) does:
request parsing (query strings, JSON bodies, typed parameters), the header
checks of Zaqar's before-hooks, error responses (status, title,
description), the model's errors mapped to them, and the JSON documents of
stored things.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, unquote_plus

from twisted.web.server import Request

from . import records
from .checks import BOUNDS, MAX_PROJECT_ID, MAX_QUEUE_NAME, QUEUE_NAME_RE, ValidationFailed

__all__ = [
    "JSON_PATCH_TYPE",
    "ErrorResponse",
    "Response",
    "WireRequest",
    "bad_api",
    "bad_body",
    "before_hooks",
    "check_bound",
    "conflict",
    "encode",
    "error_for",
    "error_response",
    "has_surrogate",
    "message_document",
    "message_summary",
    "not_found",
    "refused_as",
    "storable",
    "subscription_document",
    "to_query_str",
]

#: The content type of a queue metadata C{PATCH}.
JSON_PATCH_TYPE = "application/openstack-messaging-v2.0-json-patch"
#: The range of a 64-bit signed integer (as Zaqar's JSON parser accepts).
INT64 = (-(2**63), 2**63 - 1)

#: What a handler returns: C{(status, headers, body)}; the body is a JSON
#: value, bytes sent as they are, or C{None} for none.
Response = tuple[int, dict[str, str], Any]

_TRUE = ("true", "True", "t", "yes", "y", "1", "on")
_FALSE = ("false", "False", "f", "no", "n", "0", "off")


# -- errors ----------------------------------------------------------------------


class ErrorResponse(Exception):
    """An error response, with Falcon's JSON body (or none)."""

    def __init__(self, code: int, title: str | None = None, description: str | None = None,
                 headers: dict[str, str] | None = None, empty: bool = False) -> None:
        super().__init__(code, title, description)
        #: The HTTP status.
        self.code = code
        #: Falcon's C{title}, or C{None}.
        self.title = title
        #: Falcon's C{description}, or C{None}.
        self.description = description
        #: Extra response headers.
        self.headers = headers or {}
        #: Whether the response has no body.
        self.empty = empty

    def body(self) -> bytes:
        """C{{"title": ..., "description": ...}}, or nothing for an empty error."""
        if self.empty:
            return b""
        doc: dict[str, Any] = {"title": self.title}
        if self.description is not None:
            doc["description"] = self.description
        return json.dumps(doc).encode("utf-8")


def bad_api(description: str) -> ErrorResponse:
    """Zaqar's C{HTTPBadRequestAPI}: a 400 for a request that breaks a rule."""
    return ErrorResponse(400, "Invalid API request", description)


def bad_body(description: str) -> ErrorResponse:
    """Zaqar's C{HTTPBadRequestBody}: a 400 for a body it cannot use."""
    return ErrorResponse(400, "Invalid request body", description)


def not_found(description: str | None = None) -> ErrorResponse:
    """Falcon's bare 404, or Zaqar's C{HTTPNotFound} with a description."""
    if description is None:
        return ErrorResponse(404, "404 Not Found")
    return ErrorResponse(404, "Not found", description)


def conflict(description: str) -> ErrorResponse:
    """Zaqar's C{HTTPConflict}."""
    return ErrorResponse(409, "Resource conflict", description)


@contextmanager
def refused_as(error: Callable[[str], ErrorResponse]) -> Iterator[None]:
    """
    Answer a L{ValidationFailed} raised in the block with C{error(description)}:
    as in Zaqar, the resource that runs a check picks the title.
    """
    try:
        yield
    except ValidationFailed as e:
        raise error(str(e)) from None


def has_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value has a string (or key) with a surrogate code point."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= c <= "\udfff" for c in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def storable(value: Any, what: str) -> None:
    """
    Refuse to store a JSON value with a lone surrogate (C{"\\ud800"}),
    as Zaqar 23.0.1 on Redis does: its storage fails, and it answers 503
    ("<what> Please try again in a few seconds."), for ever.  (A pair of
    escapes that makes one character is not a surrogate once parsed.)

    @param what: Zaqar's context, e.g. C{"Messages could not be enqueued."}.
    @raise ErrorResponse: the 503.
    """
    if has_surrogate(value):
        raise ErrorResponse(503, "Service temporarily unavailable",
                            f"{what} Please try again in a few seconds.")


def check_bound(name: str, value: Any) -> None:
    """
    Check C{value} against C{BOUNDS[name]}.

    @raise ErrorResponse: an C{"Invalid API request"} when it is out of bounds.
    """
    with refused_as(bad_api):
        BOUNDS[name].check(value)


def _unable_to_delete(code: int, description: str) -> ErrorResponse:
    return ErrorResponse(code, "Unable to delete", description)


#: How each refusal of the model is answered, where every route answers it
#: alike (a subscription conflict depends on the route: see its handlers).
_MODEL_ERRORS: dict[type[records.ModelError], Callable[[Any], ErrorResponse]] = {
    records.NoSuchQueue: lambda e: not_found(
        f"Queue {e.queue} does not exist for project {e.project}"),
    records.NoSuchMessage: lambda e: not_found(
        f"Message {e.message_id} does not exist in queue {e.queue} for project {e.project}"),
    records.NoSuchMessages: lambda e: not_found(
        f"No messages with IDs: {e.message_ids!r} found in the queue {e.queue} "
        f"for project {e.project}."),
    records.NoSuchClaim: lambda e: not_found(
        f"Claim {e.claim_id} does not exist in queue {e.queue} for project {e.project}"),
    records.NoSuchSubscription: lambda e: not_found(
        f"Subscription {e.subscription_id} does not exist"),
    records.NoSuchMetadataKey: lambda e: conflict(f"Can't {e.op} non-existent object {e.key}."),
    records.ClaimNotFound: lambda e: _unable_to_delete(
        400, "The specified claim does not exist or has expired."),
    records.MessageClaimed: lambda e: _unable_to_delete(
        403, "This message is claimed; it cannot be deleted without a valid claim ID."),
    records.MessageNotClaimed: lambda e: _unable_to_delete(
        400, "A claim was specified, but the message is not currently claimed."),
}


def error_for(error: records.ModelError) -> ErrorResponse:
    """
    The response to a refusal of the model.

    @raise KeyError: a refusal with no common answer (a handler must catch it).
    """
    return _MODEL_ERRORS[type(error)](error)


# -- requests -----------------------------------------------------------------------


def _parse_query(query: str) -> dict[str, str | list[str]]:
    """Falcon with C{auto_parse_qs_csv=True} and C{keep_blank_qs_values=False}."""
    params: dict[str, str | list[str]] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key = unquote_plus(key)
        if "," in value:
            values: list[str] = [unquote_plus(v) for v in value.split(",") if v]
            if not values:
                continue
        else:
            value = unquote_plus(value)
            if not value:
                continue
            values = [value]
        old = params.get(key)
        if old is None:
            params[key] = values[0] if len(values) == 1 else values
        else:
            params[key] = (old if isinstance(old, list) else [old]) + values
    return params


def _read_json(raw: bytes) -> Any:
    """Zaqar's C{transport.utils.read_json}, mapped to its HTTP errors."""

    def parse_int(s: str) -> int:
        i = int(s)
        if not INT64[0] <= i <= INT64[1]:
            raise OverflowError(s)
        return i

    try:
        result = json.loads(raw.decode("utf-8"), parse_int=parse_int)
    except OverflowError:
        raise bad_body("JSON contains integer that is too large.") from None
    except ValueError:  # includes UnicodeDecodeError
        raise bad_body("Request body could not be parsed.") from None
    if not isinstance(result, (dict, list)):
        raise bad_body("Request body could not be parsed.")
    return result


class WireRequest:
    """What a handler needs from one C{twisted.web} request."""

    def __init__(self, request: Request) -> None:
        #: The HTTP method.
        self.method = request.method.decode("ascii")
        raw_path, _, query = request.uri.decode("latin-1").partition("?")
        #: The path, unquoted, without the query.
        self.path = unquote(raw_path)
        #: The query parameters: name to value, or to a list of values when repeated.
        self.params = _parse_query(query)
        #: Lower-case header name to (last) value.
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v[-1].decode("latin-1")
            for k, v in request.requestHeaders.getAllRawHeaders()
        }
        length = self.headers.get("content-length")
        #: The C{Content-Length}, or the body's length when not given, or C{None}.
        self.content_length: int | None = int(length) if length is not None else None
        content = request.content
        #: The raw body.
        self.raw: bytes = b""
        if content is not None:
            content.seek(0)
            self.raw = content.read()
        if self.content_length is None and self.raw:
            self.content_length = len(self.raw)
        #: Set by L{before_hooks}.
        self.project_id = ""
        #: The C{Client-ID}; set by L{before_hooks}.
        self.client_id = ""

    @property
    def content_type(self) -> str | None:
        """The C{Content-Type} header, or C{None}."""
        return self.headers.get("content-type")

    def deserialize(self) -> Any:
        """C{wsgi_utils.deserialize}: the body is required."""
        if self.content_length is None:
            raise bad_body("Request body can not be empty")
        return _read_json(self.raw[: self.content_length])

    def document_or(self, default: Any) -> Any:
        """The body if there is one (a truthy Content-Length), else C{default}."""
        if self.content_length:
            return self.deserialize()
        return default

    # Falcon's get_param* family.
    def param(self, name: str) -> str | None:
        """Falcon's C{get_param}: the parameter's (last) value, or C{None}."""
        value = self.params.get(name)
        if isinstance(value, list):
            return value[-1]
        return value

    def param_list(self, name: str) -> list[str] | None:
        """Falcon's C{get_param_as_list}: the parameter's values, or C{None}."""
        value = self.params.get(name)
        if value is None:
            return None
        return value if isinstance(value, list) else [value]

    def param_int(self, name: str) -> int | None:
        """
        Falcon's C{get_param_as_int}: the parameter as an C{int}, or C{None}.

        @raise ErrorResponse: a 400: not an integer.
        """
        value = self.param(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise ErrorResponse(400, "Invalid parameter",
                                f'The "{name}" parameter is invalid. The value must be an integer.') from None

    def param_bool(self, name: str) -> bool | None:
        """
        Falcon's C{get_param_as_bool}: the parameter as a C{bool}, or C{None}.

        @raise ErrorResponse: a 400: not one of Falcon's true or false words.
        """
        value = self.param(name)
        if value is None:
            return None
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ErrorResponse(400, "Invalid parameter",
                            f'The "{name}" parameter is invalid. '
                            'The value of the parameter must be "true" or "false".')


def _accepts_json(accept: str | None) -> bool:
    if accept is None:
        return True
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if q > 0 and media.lower() in ("*/*", "application/*", "application/json", "*"):
            return True
    return False


def before_hooks(req: WireRequest, queue_name: str | None, bare: bool,
                 client_id_uuid_safe: str) -> None:
    """
    Zaqar's before-hooks (C{transport/wsgi/driver.py}, in order, after the
    signed-URL check): content type, C{Accept}, then, except on C{bare}
    routes, C{Client-ID}, C{X-Project-ID} and the queue name.  Sets
    C{req.client_id} and C{req.project_id}.

    @raise ErrorResponse: a check failed.
    """
    if req.content_length is not None and (req.content_type or "").lower() == \
            "application/x-www-form-urlencoded":
        raise ErrorResponse(
            400, "Invalid Content-Type",
            "Endpoint does not accept `application/x-www-form-urlencoded` content; "
            "currently supported media type is `application/json`; specify proper "
            'client-side media type with the "Content-Type" header.')
    if not _accepts_json(req.headers.get("accept")):
        raise ErrorResponse(406, empty=True)
    if bare:
        return
    client_id = req.headers.get("client-id")
    if client_id is None:
        raise ErrorResponse(400, "Missing header value", 'The "Client-Id" header is required.')
    if client_id_uuid_safe == "strict":
        try:
            uuid.UUID(client_id)
        except ValueError:
            raise ErrorResponse(400, "Wrong UUID value", "Malformed hexadecimal UUID.") from None
    elif client_id_uuid_safe == "off" and not 10 <= len(client_id) <= 36:
        raise ErrorResponse(400, "Length of client id must be at least 10 and no greater than 36.")
    try:
        req.client_id = str(uuid.UUID(client_id))
    except ValueError:
        req.client_id = client_id
    project = req.headers.get("x-project-id", req.headers.get("x-tenant-id"))
    if project == "":
        raise ErrorResponse(400, "Empty project header not allowed",
                            "X-PROJECT-ID cannot be an empty string. Specify the right header "
                            "X-PROJECT-ID and retry.")
    if not project:
        raise ErrorResponse(400, "Project-Id Missing", "The header X-PROJECT-ID was missing")
    req.project_id = project
    if queue_name is not None and (
        len(project) > MAX_PROJECT_ID or len(queue_name) > MAX_QUEUE_NAME
        or not QUEUE_NAME_RE.match(queue_name)
    ):
        raise ErrorResponse(400, "Invalid queue identification",
                            "The format of the submitted queue name or project id is not valid.")


# -- responses ------------------------------------------------------------------------


def encode(method: str, response: Response) -> tuple[int, dict[str, str], bytes]:
    """
    A handler's response (or an L{ErrorResponse}'s) as it is sent: JSON
    bodies encoded with their content type; none for 204, 304 and HEAD.
    """
    code, headers, body = response
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"content-type": "application/json; charset=UTF-8", **headers}
    if code in (204, 304) or body is None or method == "HEAD":
        return code, headers, b""
    return code, headers, body


def error_response(error: ErrorResponse) -> Response:
    """An L{ErrorResponse} as a response (JSON errors carry their content type)."""
    body = error.body()
    headers = {"content-type": "application/json", **error.headers} if body else error.headers
    return error.code, headers, body


def to_query_str(params: dict[str, Any]) -> str:
    """Falcon's C{to_query_str}, for paging links."""
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        if value is True:
            value = "true"
        elif value is False:
            value = "false"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        else:
            value = str(value)
        parts.append(f"{key}={value}")
    return "?" + "&".join(parts)


def message_document(message: records.StoredMessage, queue_name: str, now: int,
                     claim_id: str | None, decrypted: bool = False) -> dict[str, Any]:
    """
    A message as listings, gets and claims show it (its href names
    C{claim_id}); the ciphertext of an encrypted one unless C{decrypted}.
    """
    href = f"/v2/queues/{queue_name}/messages/{message.id}"
    if claim_id:
        href += f"?claim_id={claim_id}"
    return {"id": message.id, "href": href, "ttl": message.ttl,
            "age": now - message.created, "body": _body(message, decrypted)}


def _body(message: records.StoredMessage, decrypted: bool) -> Any:
    return message.body if decrypted or message.ciphertext is None else message.ciphertext


def message_summary(message: records.StoredMessage, now: int) -> dict[str, Any]:
    """A message as pop and stats show it (Zaqar's C{_basic_message}, never decrypted)."""
    return {"id": message.id, "age": now - message.created, "ttl": message.ttl,
            "body": _body(message, False), "claim_id": message.shown_claim(now),
            "claim_count": message.claim_count}


def subscription_document(s: records.StoredSubscription, now: int) -> dict[str, Any]:
    """A subscription as Zaqar shows it (its C{age} from C{now})."""
    return {"id": s.id, "source": s.source, "subscriber": s.subscriber, "ttl": s.ttl,
            "age": now - (s.expires - s.ttl), "options": s.options, "confirmed": s.confirmed}
