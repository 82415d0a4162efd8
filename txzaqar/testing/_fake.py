"""
An in-memory Zaqar v2 server, for tests.

L{MemoryZaqar} is a C{twisted.web} resource that answers the Zaqar v2 HTTP
API the way Zaqar 23.0.1 on Redis does (``reference/zaqar-v2-api.md``):
the same routes, statuses, error titles and descriptions, limits, reserved
metadata and their defaults, echo filtering by C{Client-ID}, claims with
ttl and grace, delayed messages (only on queues with a
C{_default_message_delay}), dead-letter moves after C{_max_claim_count},
subscriptions and pre-signed URLs.  Time comes from an injected
L{IReactorTime} (a L{twisted.internet.task.Clock} in tests), so message,
claim and subscription expiry happen when the test advances the clock.

The real L{txzaqar.Client} reaches it through treq's
C{RequestTraversalAgent}: requests go through the real connection code,
headers and error parsing, in memory, synchronously.  See
L{txzaqar.testing.memory_client}.

Where Zaqar 23.0.1 has a bug listed in section 8 of the reference, the
fake does what the API means instead (the contract suite names each
difference; see C{txzaqar.testing.contract}): a marker at rank 0 does not
restart a listing (8.1); C{include_claimed} without a marker works (8.2);
encrypted queues store the plain body, so claims and pop return it (8.5);
a PATCH with a JSON object body is a 400 (8.6); C{name} and metadata
filters on queue listings are applied (8.7); there are no topics, pools
or flavors (8.8, 404).  Beyond section 8, where Redis is sloppy the fake
is exact: a claim takes only free messages (Redis's claim script also
takes claimed messages that follow the first free one); a message whose
claim expired shows no C{claim_id}; purge removes claimed and delayed
messages and every subscription (Redis pops only free messages and deletes
the first 10 subscriptions); stats count the messages under live claims;
listings filter before they page, so a page is short only at the end.
Quirks that are part of how the API is used are kept: GET of a missing
queue is 200 with the defaults and PUT of an existing queue ignores its
body (8.3); a per-message C{delay} is dropped on queues without a
C{_default_message_delay} (8.4); pop answers 200, an empty claim 204 and
share 200 (8.9); the message a claim moves to the dead letter queue keeps
that claim, so it stays hidden there until the claim expires (section 3).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, unquote_plus

import attr
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request

from ._homedoc import JSON_HOME

__all__ = ["MemoryZaqar"]

# -- limits and defaults (Zaqar 23.0.1, [transport]) ---------------------------

MIN_MESSAGE_TTL = 60
MAX_MESSAGE_TTL = 1209600
DEFAULT_MESSAGE_TTL = 3600
MAX_MESSAGE_DELAY = 900
MIN_CLAIM_TTL = 60
MAX_CLAIM_TTL = 43200
MIN_CLAIM_GRACE = 60
MAX_CLAIM_GRACE = 43200
DEFAULT_CLAIM_TTL = 300
DEFAULT_CLAIM_GRACE = 60
DEFAULT_CLAIM_LIMIT = 10
MAX_PER_PAGE = 20
DEFAULT_PER_PAGE = 10
MAX_CLAIM_OR_POP = 20
MAX_POST_SIZE = 262144
MAX_METADATA_SIZE = 65536
MIN_SUBSCRIPTION_TTL = 60
DEFAULT_SUBSCRIPTION_TTL = 3600
SUBSCRIBER_TYPES = ["http", "https", "mailto", "trust+http", "trust+https"]
QUEUE_NAME_RE = re.compile(r"^[a-zA-Z0-9_\-.]+$")
JSON_PATCH_TYPE = "application/openstack-messaging-v2.0-json-patch"
INT64 = (-(2**63), 2**63 - 1)

RETRY_BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")

VERSIONS = {
    "versions": [
        {
            "id": "2",
            "status": "CURRENT",
            "updated": "2014-9-24T04:06:47Z",
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.messaging-v2+json"}
            ],
            "links": [{"href": "/v2/", "rel": "self"}],
        }
    ]
}

_SHARE_KEYS = {"paths", "methods", "expires"}
_SHARE_PATHS = {"messages", "subscriptions", "claims"}
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
_TRUE = ("true", "True", "t", "yes", "y", "1", "on")
_FALSE = ("false", "False", "f", "no", "n", "0", "off")


def reserved_defaults() -> dict[str, Any]:
    """What GET, PATCH and detailed lists show for absent or falsy reserved keys."""
    return {
        "_max_messages_post_size": MAX_POST_SIZE,
        "_default_message_ttl": DEFAULT_MESSAGE_TTL,
        "_default_message_delay": 0,
        "_dead_letter_queue": None,
        "_dead_letter_queue_messages_ttl": None,
        "_max_claim_count": None,
        "_enable_encrypt_messages": False,
    }


def _with_defaults(metadata: dict[str, Any]) -> dict[str, Any]:
    result = dict(metadata)
    for key, value in reserved_defaults().items():
        if not result.get(key):
            result[key] = value
    return result


# -- errors ----------------------------------------------------------------------


class _HTTPError(Exception):
    """An error response, with Falcon's JSON body (or none)."""

    def __init__(self, code: int, title: str | None = None, description: str | None = None,
                 headers: dict[str, str] | None = None, empty: bool = False) -> None:
        super().__init__(code, title, description)
        self.code = code
        self.title = title
        self.description = description
        self.headers = headers or {}
        self.empty = empty

    def body(self) -> bytes:
        if self.empty:
            return b""
        doc: dict[str, Any] = {"title": self.title}
        if self.description is not None:
            doc["description"] = self.description
        return json.dumps(doc).encode("utf-8")


def _bad_api(description: str) -> _HTTPError:
    return _HTTPError(400, "Invalid API request", description)


def _bad_body(description: str) -> _HTTPError:
    return _HTTPError(400, "Invalid request body", description)


def _not_found(description: str | None = None) -> _HTTPError:
    if description is None:
        return _HTTPError(404, "404 Not Found")
    return _HTTPError(404, "Not found", description)


def _conflict(description: str) -> _HTTPError:
    return _HTTPError(409, "Resource conflict", description)


class _ValidationFailed(ValueError):
    """Zaqar's C{ValidationFailed}: the caller maps it to a title."""


# -- stored things -------------------------------------------------------------------


@attr.s(auto_attribs=True, eq=False)
class _Message:
    id: str
    queue: str
    body: Any
    ttl: int
    created: int
    expires: int
    client_id: str
    seq: int
    claim_id: str | None = None
    claim_expires: int = 0
    claim_count: int = 0
    delay_expires: int = 0

    def claimed(self, now: int) -> bool:
        return bool(self.claim_id) and now < self.claim_expires


@attr.s(auto_attribs=True, eq=False)
class _Claim:
    id: str
    queue: str
    ttl: int
    expires: int
    message_ids: list[str]


@attr.s(auto_attribs=True, eq=False)
class _Subscription:
    id: str
    source: str
    subscriber: str
    ttl: int
    expires: int
    options: Any
    confirmed: bool = False


@attr.s(auto_attribs=True, eq=False)
class _Project:
    queues: dict[str, dict[str, Any]] = attr.Factory(dict)
    #: Message ids per queue name, in posting order (like Redis's msgsets,
    #: these may outlive or precede the queue: a dead letter queue need
    #: not exist).
    msgsets: dict[str, list[str]] = attr.Factory(dict)
    #: Every message of the project by id (ids are unique, as in Redis).
    messages: dict[str, _Message] = attr.Factory(dict)
    claims: dict[str, _Claim] = attr.Factory(dict)
    subscriptions: dict[str, _Subscription] = attr.Factory(dict)


# -- request parsing ------------------------------------------------------------------


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
        raise _bad_body("JSON contains integer that is too large.") from None
    except ValueError:  # includes UnicodeDecodeError
        raise _bad_body("Request body could not be parsed.") from None
    if not isinstance(result, (dict, list)):
        raise _bad_body("Request body could not be parsed.")
    return result


class _Req:
    """What a handler needs from one request."""

    def __init__(self, request: Request) -> None:
        self.method = request.method.decode("ascii")
        raw_path, _, query = request.uri.decode("latin-1").partition("?")
        self.path = unquote(raw_path)
        self.params = _parse_query(query)
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v[-1].decode("latin-1")
            for k, v in request.requestHeaders.getAllRawHeaders()
        }
        length = self.headers.get("content-length")
        self.content_length: int | None = int(length) if length is not None else None
        content = request.content
        self.raw: bytes = b""
        if content is not None:
            content.seek(0)
            self.raw = content.read()
        if self.content_length is None and self.raw:
            self.content_length = len(self.raw)
        self.project_id = ""
        self.client_id = ""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def deserialize(self) -> Any:
        """C{wsgi_utils.deserialize}: the body is required."""
        if self.content_length is None:
            raise _bad_body("Request body can not be empty")
        return _read_json(self.raw[: self.content_length])

    def document_or(self, default: Any) -> Any:
        """The body if there is one (a truthy Content-Length), else C{default}."""
        if self.content_length:
            return self.deserialize()
        return default

    # Falcon's get_param* family.
    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        if isinstance(value, list):
            return value[-1]
        return value

    def param_list(self, name: str) -> list[str] | None:
        value = self.params.get(name)
        if value is None:
            return None
        return value if isinstance(value, list) else [value]

    def param_int(self, name: str) -> int | None:
        value = self.param(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise _HTTPError(400, "Invalid parameter",
                             f'The "{name}" parameter is invalid. The value must be an integer.') from None

    def param_bool(self, name: str) -> bool | None:
        value = self.param(name)
        if value is None:
            return None
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise _HTTPError(400, "Invalid parameter",
                         f'The "{name}" parameter is invalid. '
                         'The value of the parameter must be "true" or "false".')


def _to_query_str(params: dict[str, Any]) -> str:
    """Falcon's C{to_query_str}."""
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


# -- routes -------------------------------------------------------------------------

_Handler = Callable[..., Any]

_ROUTES: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    (re.compile(r"^/v2/$"), "home", ("GET",)),
    (re.compile(r"^/v2/ping$"), "ping", ("GET", "HEAD")),
    (re.compile(r"^/v2/health$"), "health", ("GET",)),
    (re.compile(r"^/v2/queues$"), "queues", ("GET",)),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)$"), "queue", ("GET", "PUT", "PATCH", "DELETE")),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/stats$"), "stats", ("GET",)),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/purge$"), "purge", ("POST",)),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/share$"), "share", ("POST",)),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/messages$"), "messages", ("GET", "POST", "DELETE")),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/messages/(?P<message_id>[^/]+)$"),
     "message", ("GET", "DELETE")),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/claims$"), "claims", ("POST",)),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/claims/(?P<claim_id>[^/]+)$"),
     "claim", ("GET", "PATCH", "DELETE")),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/subscriptions$"), "subscriptions", ("GET", "POST")),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/subscriptions/(?P<subscription_id>[^/]+)$"),
     "subscription", ("GET", "PATCH", "DELETE")),
    (re.compile(r"^/v2/queues/(?P<queue_name>[^/]+)/subscriptions/(?P<subscription_id>[^/]+)/confirm$"),
     "confirm", ("PUT",)),
]


class MemoryZaqar(Resource):
    """
    An in-memory Zaqar v2 server: a C{twisted.web} resource.

    @param clock: an L{IReactorTime} (a L{twisted.internet.task.Clock} in
        tests); message, claim and subscription times follow it.  The
        wall-clock dates it shows (stats C{created}, share C{expires})
        start from the real time at construction and move with C{clock}.
    @param secret_key: the C{[signed_url] secret_key}; C{None} makes
        C{share} fail as a server without one does.
    @param admin_mode: serve C{/v2/health} (for the C{admin} role).
    @param client_id_uuid_safe: C{"strict"} (the default: C{Client-ID}
        must be a UUID) or C{"off"} (10 to 36 characters).

    Read-only views for tests: L{queue_names}, L{message_bodies},
    L{metadata}.
    """

    isLeaf = True

    def __init__(
        self,
        clock: IReactorTime,
        secret_key: str | None = "txzaqar-memory-secret",
        admin_mode: bool = True,
        client_id_uuid_safe: str = "strict",
    ) -> None:
        super().__init__()
        #: The L{IReactorTime} given (typed loosely: a L{Clock} in tests, to advance).
        self.clock: Any = clock
        self.secret_key = secret_key
        self.admin_mode = admin_mode
        self.client_id_uuid_safe = client_id_uuid_safe
        self._projects: dict[str, _Project] = {}
        self._seq = 0
        self._wall_offset = time.time() - clock.seconds()
        #: Every request served, as C{(method, path)}, for assertions.
        self.requests: list[tuple[str, str]] = []

    # -- views for tests ------------------------------------------------------

    def _now(self) -> int:
        return int(self.clock.seconds())

    def _wall(self) -> datetime.datetime:
        ts = self._wall_offset + self.clock.seconds()
        return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).replace(tzinfo=None)

    def _project(self, project_id: str) -> _Project:
        project = self._projects.get(project_id)
        if project is None:
            project = self._projects[project_id] = _Project()
        return project

    def queue_names(self, project_id: str) -> list[str]:
        """The queues of a project, sorted."""
        return sorted(self._projects.get(project_id, _Project()).queues)

    def metadata(self, project_id: str, queue_name: str) -> dict[str, Any] | None:
        """A queue's stored metadata (no defaults), or C{None} if it does not exist."""
        queues = self._projects.get(project_id, _Project()).queues
        return dict(queues[queue_name]) if queue_name in queues else None

    def message_bodies(self, project_id: str, queue_name: str) -> list[Any]:
        """The bodies of a queue's live messages (claimed and delayed too), oldest first."""
        project = self._projects.get(project_id, _Project())
        return [m.body for m in self._live(project, queue_name, self._now())]

    # -- twisted.web ----------------------------------------------------------

    def render(self, request: Request) -> bytes:
        request.setHeader(b"x-openstack-request-id", f"req-{uuid.uuid4()}".encode())
        req = _Req(request)
        self.requests.append((req.method, req.path))
        try:
            code, headers, body = self._dispatch(req)
        except _HTTPError as e:
            code, headers, body = e.code, e.headers, e.body()
            if body:
                headers = {"content-type": "application/json", **headers}
        else:
            if body is not None and not isinstance(body, bytes):
                body = json.dumps(body, ensure_ascii=False).encode("utf-8")
                headers = {"content-type": "application/json; charset=UTF-8", **headers}
        request.setResponseCode(code)
        for name, value in headers.items():
            request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
        if code in (204, 304) or body is None or req.method == "HEAD":
            return b""
        return body

    def _dispatch(self, req: _Req) -> tuple[int, dict[str, str], Any]:
        path = req.path
        allowed: tuple[str, ...]
        if path == "/":
            name, allowed, params = "versions", ("GET",), {}
        else:
            found = next(((p.match(path), n, a) for p, n, a in _ROUTES if p.match(path)), None)
            if found is None:
                raise _not_found()
            match, name, allowed = found
            assert match is not None
            params = match.groupdict()
            if name == "health" and not self.admin_mode:
                raise _not_found()
        self._hooks(req, params, root=(path == "/"))
        if req.method == "OPTIONS":
            return 200, {"allow": ", ".join(allowed + ("OPTIONS",))}, None
        if req.method not in allowed:
            raise _HTTPError(405, "405 Method Not Allowed",
                             headers={"allow": ", ".join(allowed + ("OPTIONS",))})
        handler: _Handler = getattr(self, f"_{req.method.lower()}_{name}")
        return handler(req, **params)  # type: ignore[no-any-return,unused-ignore]

    # -- before hooks (transport/wsgi/driver.py, in order) --------------------

    def _hooks(self, req: _Req, params: dict[str, str], root: bool) -> None:
        self._verify_pre_signed_url(req)
        if req.content_length is not None and (req.content_type or "").lower() == \
                "application/x-www-form-urlencoded":
            raise _HTTPError(
                400, "Invalid Content-Type",
                "Endpoint does not accept `application/x-www-form-urlencoded` content; "
                "currently supported media type is `application/json`; specify proper "
                'client-side media type with the "Content-Type" header.')
        if not _accepts_json(req.headers.get("accept")):
            raise _HTTPError(406, empty=True)
        if root:
            return
        client_id = req.headers.get("client-id")
        if client_id is None:
            raise _HTTPError(400, "Missing header value", 'The "Client-Id" header is required.')
        if self.client_id_uuid_safe == "strict":
            try:
                uuid.UUID(client_id)
            except ValueError:
                raise _HTTPError(400, "Wrong UUID value", "Malformed hexadecimal UUID.") from None
        elif self.client_id_uuid_safe == "off" and not 10 <= len(client_id) <= 36:
            raise _HTTPError(400, "Length of client id must be at least 10 and no greater than 36.")
        try:
            req.client_id = str(uuid.UUID(client_id))
        except ValueError:
            req.client_id = client_id
        project = req.headers.get("x-project-id", req.headers.get("x-tenant-id"))
        if project == "":
            raise _HTTPError(400, "Empty project header not allowed",
                             "X-PROJECT-ID cannot be an empty string. Specify the right header "
                             "X-PROJECT-ID and retry.")
        if not project:
            raise _HTTPError(400, "Project-Id Missing", "The header X-PROJECT-ID was missing")
        req.project_id = project
        queue_name = params.get("queue_name")
        if queue_name is not None and (
            len(project) > 256 or len(queue_name) > 64 or not QUEUE_NAME_RE.match(queue_name)
        ):
            raise _HTTPError(400, "Invalid queue identification",
                             "The format of the submitted queue name or project id is not valid.")

    def _signature(self, paths: list[str], methods: list[str] | None, project: str | None,
                   expires: str | None) -> dict[str, Any]:
        """C{zaqar.common.urls.create_signed_url}; raises ValueError like it."""
        methods = methods or ["GET"]
        if self.secret_key is None:
            raise ValueError("The `key` can't be None")
        if not isinstance(paths, list) or not paths:
            raise ValueError("`paths` must be a non-empty list")
        if not isinstance(methods, list):
            raise ValueError("`methods` should be a list")
        now = self._wall()
        if expires is not None:
            check = None
            try:
                check = int(expires)
            except (TypeError, ValueError):
                pass
            if check:
                raise ValueError("`expires` should be date format, for example "
                                 f"2016-01-01T00:00:00, not integer value: {check}")
            if not isinstance(expires, str):
                raise ValueError(f"Unable to parse date string {expires!r}")
            try:
                parsed = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"Unable to parse date string {expires!r}") from None
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
            expires_dt = parsed
        else:
            expires_dt = now + datetime.timedelta(days=1)
        if expires_dt <= now:
            raise ValueError("`expires` is lower than the current time")
        methods = sorted(methods)
        paths = sorted(paths)
        expires_str = expires_dt.strftime(_DATE_FORMAT)
        text = "\\n".join([",".join(paths), ",".join(methods), str(project), expires_str])
        signature = hmac.new(self.secret_key.encode("utf-8"), text.encode("utf-8"),
                             hashlib.sha256).hexdigest()
        return {"paths": paths, "methods": methods, "project": project,
                "expires": expires_str, "signature": signature}

    def _verify_pre_signed_url(self, req: _Req) -> None:
        signature = req.headers.get("url-signature")
        if signature is None:
            return
        methods = req.headers.get("url-methods", "").split(",")
        paths = req.headers.get("url-paths", "").split(",")
        if req.method not in methods:
            raise _not_found()
        if not any(p and re.search(p, req.path) for p in paths):
            raise _not_found()
        try:
            expected = self._signature(paths, methods, req.headers.get("x-project-id"),
                                       req.headers.get("url-expires"))
        except (ValueError, re.error):
            raise _not_found() from None
        if not hmac.compare_digest(expected["signature"], signature):
            raise _not_found()

    # -- storage helpers ------------------------------------------------------

    def _live(self, project: _Project, queue_name: str, now: int) -> list[_Message]:
        """The queue's unexpired messages in order; expired ones are dropped."""
        ids = project.msgsets.get(queue_name)
        if not ids:
            return []
        live = []
        keep = []
        for mid in ids:
            message = project.messages.get(mid)
            if message is None:
                continue
            if message.expires <= now:
                del project.messages[mid]
                continue
            keep.append(mid)
            live.append(message)
        if len(keep) != len(ids):
            project.msgsets[queue_name] = keep
        return live

    def _live_claim(self, project: _Project, queue_name: str, claim_id: str, now: int) -> _Claim | None:
        claim = project.claims.get(claim_id)
        if claim is None or claim.queue != queue_name:
            return None
        if claim.expires <= now:
            del project.claims[claim_id]
            return None
        return claim

    def _message_doc(self, message: _Message, queue_name: str, now: int,
                     claim_id: str | None) -> dict[str, Any]:
        href = f"/v2/queues/{queue_name}/messages/{message.id}"
        if claim_id:
            href += f"?claim_id={claim_id}"
        return {"id": message.id, "href": href, "ttl": message.ttl,
                "age": now - message.created, "body": message.body}

    def _shown_claim(self, message: _Message, now: int) -> str | None:
        return message.claim_id if message.claimed(now) else None

    def _basic(self, message: _Message, now: int) -> dict[str, Any]:
        return {"id": message.id, "age": now - message.created, "ttl": message.ttl,
                "body": message.body, "claim_id": self._shown_claim(message, now),
                "claim_count": message.claim_count}

    # -- versions, home, ping, health -----------------------------------------

    def _get_versions(self, req: _Req) -> tuple[int, dict[str, str], Any]:
        return 300, {}, VERSIONS

    def _get_home(self, req: _Req) -> tuple[int, dict[str, str], Any]:
        body = json.dumps(JSON_HOME, ensure_ascii=False, indent=4).encode("utf-8")
        return 200, {"content-type": "application/json-home", "cache-control": "max-age=86400"}, body

    def _get_ping(self, req: _Req) -> tuple[int, dict[str, str], Any]:
        return 204, {}, None

    _head_ping = _get_ping

    def _get_health(self, req: _Req) -> tuple[int, dict[str, str], Any]:
        roles = [r.strip().lower() for r in req.headers.get("x-roles", "").split(",")]
        if "admin" not in roles:
            raise _HTTPError(403, "Not authorized", "You are not authorized to complete this action.")
        ops = ("create_queue", "post_messages", "list_messages", "claim_messages",
               "delete_messages", "delete_queue")
        return 200, {}, {
            "storage_reachable": True,
            "operation_status": {op: {"succeeded": True, "seconds": 0.0, "ref": None} for op in ops},
        }

    # -- queues ---------------------------------------------------------------

    def _get_queues(self, req: _Req) -> tuple[int, dict[str, str], Any]:
        kwargs: dict[str, Any] = {}
        fields = ("marker", "limit", "detailed", "name", "with_count")
        for key, getter in (("marker", req.param), ("limit", req.param_int),
                            ("detailed", req.param_bool), ("name", req.param),
                            ("with_count", req.param_bool)):
            value = getter(key)
            if value is not None:
                kwargs[key] = value
        kfilter: dict[str, Any] = {}
        for key in req.params:
            if key not in fields:
                value = req.param(key)
                try:
                    kfilter[key] = int(value)  # type: ignore[arg-type]
                except ValueError:
                    kfilter[key] = value
        limit = kwargs.get("limit")
        if limit is not None and not 0 < limit <= MAX_PER_PAGE:
            raise _bad_api(f"Limit must be at least 1 and no greater than {MAX_PER_PAGE}.")
        project = self._project(req.project_id)
        names = sorted(project.queues)
        with_count = kwargs.pop("with_count", False)
        total = len(names)
        if "name" in kwargs:
            pattern = re.compile(kwargs["name"])
            names = [n for n in names if pattern.search(n)]
        if kfilter:
            names = [n for n in names
                     if all(project.queues[n].get(k) == v for k, v in kfilter.items())]
        marker = kwargs.get("marker")
        if marker:
            names = [n for n in names if n > marker]
        page = names[: limit or DEFAULT_PER_PAGE]
        queues = []
        for name in page:
            doc: dict[str, Any] = {"name": name}
            if kwargs.get("detailed"):
                doc["metadata"] = _with_defaults(project.queues[name])
            doc["href"] = f"{req.path}/{name}"
            queues.append(doc)
        kwargs["marker"] = page[-1] if page else kwargs.get("marker", "")
        links = [{"rel": "next", "href": req.path + _to_query_str(kwargs)}] if queues else []
        body: dict[str, Any] = {"queues": queues, "links": links}
        if with_count and total:
            body["count"] = total
        return 200, {}, body

    def _check_metadata(self, metadata: Any) -> None:
        """C{Validator.queue_metadata_putting}."""
        if not metadata:
            return
        ttl = metadata.get("_default_message_ttl")
        if ttl and not _is_int(ttl):
            raise _ValidationFailed("_default_message_ttl must be integer.")
        if ttl is not None and not MIN_MESSAGE_TTL <= ttl <= MAX_MESSAGE_TTL:
            raise _ValidationFailed(
                f"_default_message_ttl can not exceed {MAX_MESSAGE_TTL} seconds, and must be "
                f"at least {MIN_MESSAGE_TTL} seconds long.")
        size = metadata.get("_max_messages_post_size")
        if size and not _is_int(size):
            raise _ValidationFailed("_max_messages_post_size must be integer.")
        if size is not None and not 0 < size <= MAX_POST_SIZE:
            raise _ValidationFailed(
                f"_max_messages_post_size can not exceed {MAX_POST_SIZE},  and must be at "
                "least greater than 0.")
        count = metadata.get("_max_claim_count")
        if count and not _is_int(count):
            raise _ValidationFailed("_max_claim_count must be integer.")
        dlq_ttl = metadata.get("_dead_letter_queue_messages_ttl")
        if dlq_ttl and not _is_int(dlq_ttl):
            raise _ValidationFailed("_dead_letter_queue_messages_ttl must be integer.")
        if dlq_ttl is not None and not MIN_MESSAGE_TTL <= dlq_ttl <= MAX_MESSAGE_TTL:
            raise _ValidationFailed(
                f"The TTL for a message may not exceed {MAX_MESSAGE_TTL} seconds, and must be "
                f"at least {MIN_MESSAGE_TTL} seconds long.")
        delay = metadata.get("_default_message_delay")
        if delay and not _is_int(delay):
            raise _ValidationFailed("_default_message_delay must be integer.")
        if delay is not None and not 0 <= delay <= MAX_MESSAGE_DELAY:
            raise _ValidationFailed(
                f"The TTL can not exceed {MAX_MESSAGE_DELAY} seconds, and must be at least 0 "
                "seconds long.")
        encrypted = metadata.get("_enable_encrypt_messages", False)
        if encrypted and not isinstance(encrypted, bool):
            raise _ValidationFailed("_enable_encrypt_messages must be boolean.")
        self._check_retry_policy(metadata.get("_retry_policy"))

    def _check_retry_policy(self, policy: Any) -> None:
        if policy and not isinstance(policy, dict):
            raise _ValidationFailed("retry_policy must be a dict.")
        if not policy:
            return
        for key in ("retries_with_no_delay", "minimum_delay_retries", "minimum_delay",
                    "maximum_delay", "maximum_delay_retries", "retry_backoff_function",
                    "ignore_subscription_override"):
            value = policy.get(key)
            if key == "retry_backoff_function":
                if value and not isinstance(value, str):
                    raise _ValidationFailed("retry_backoff_function must be a string.")
                if value and value not in RETRY_BACKOFF_FUNCTIONS:
                    raise _ValidationFailed("invalid retry_backoff_function.")
            elif key == "ignore_subscription_override":
                if value and not isinstance(value, bool):
                    raise _ValidationFailed("ignore_subscription_override must be a boolean.")
            elif value and not _is_int(value):
                raise _ValidationFailed(f"Retry policy: {key} must be a integer.")
        low = policy.get("minimum_delay", 5)
        high = policy.get("maximum_delay", 30)
        if high < low:
            raise _ValidationFailed("minimum_delay must less than maximum_delay.")
        if high - low < 10:
            raise _ValidationFailed("invalid minimum_delay and maximum_delay.")

    def _get_queue(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        metadata = self._project(req.project_id).queues.get(queue_name, {})
        return 200, {}, _with_defaults(metadata)

    def _put_queue(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        try:
            if req.content_length is not None and req.content_length > MAX_METADATA_SIZE:
                raise _ValidationFailed(f"Queue metadata is too large. Max size: {MAX_METADATA_SIZE}")
            metadata = None
            if req.content_length:
                metadata = req.deserialize()
                if not isinstance(metadata, dict):
                    raise _bad_body("Document type not supported.")
            self._check_metadata(metadata)
        except _ValidationFailed as e:
            raise _bad_api(str(e)) from None
        project = self._project(req.project_id)
        headers = {"location": req.path}
        if queue_name in project.queues:
            return 204, headers, None
        project.queues[queue_name] = dict(metadata or {})
        return 201, headers, None

    def _delete_queue(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        project = self._project(req.project_id)
        project.queues.pop(queue_name, None)
        for mid in project.msgsets.pop(queue_name, []):
            project.messages.pop(mid, None)
        return 204, {}, None

    def _patch_queue(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        if req.content_length is not None and req.content_length > MAX_METADATA_SIZE:
            raise _bad_body(f"Queue metadata is too large. Max size: {MAX_METADATA_SIZE}")
        if req.content_type != JSON_PATCH_TYPE:
            raise _HTTPError(
                415, "415 Unsupported Media Type",
                "Accepted media type for PATCH: "
                f"{{'Accept-Patch': '{JSON_PATCH_TYPE}'}}.")
        if not req.content_length:
            raise _bad_body("PATCH body could not be empty for update.")
        changes = req.deserialize()
        if not isinstance(changes, list):
            # Zaqar 23.0.1 answers 503 here (quirk 8.6).
            raise _bad_body("Document type not supported.")
        try:
            washed = [self._wash_change(change) for change in changes]
        except _ValidationFailed as e:
            raise _bad_body(str(e)) from None
        project = self._project(req.project_id)
        if queue_name not in project.queues:
            raise _not_found(f"Queue {queue_name} does not exist for project {req.project_id}")
        metadata = dict(project.queues[queue_name])
        reserved = reserved_defaults()
        for op, key, value in washed:
            if op == "add":
                metadata[key] = value
            elif op == "replace":
                if key in metadata or key in reserved:
                    metadata[key] = value
                else:
                    raise _conflict(f"Can't replace non-existent object {key}.")
            elif key in metadata:
                metadata.pop(key)
            elif key not in reserved:
                raise _conflict(f"Can't remove non-existent object {key}.")
        try:
            self._check_metadata(metadata)
        except _ValidationFailed as e:
            raise _bad_body(str(e)) from None
        project.queues[queue_name] = metadata
        return 200, {}, _with_defaults(metadata)

    @staticmethod
    def _wash_change(raw: Any) -> tuple[str, str, Any]:
        """C{Validator.queue_patching} for one operation."""
        ops = ("add", "remove", "replace")
        if not isinstance(raw, dict):
            raise _ValidationFailed("Operations must be JSON objects.")
        op = raw.get("op")
        if op is None:
            raise _ValidationFailed("Unable to find `op` in JSON Schema change. It must be one "
                                    f"of the following: {', '.join(ops)}.")
        if op not in ops:
            raise _ValidationFailed(f"Invalid operation: `{op}`. It must be one of the "
                                    f"following: {', '.join(ops)}.")
        if "path" not in raw:
            raise _ValidationFailed("Unable to find 'path' in JSON Schema change")
        pointer = raw["path"]
        if not isinstance(pointer, str) or not pointer.startswith("/"):
            raise _ValidationFailed(f'Pointer `{pointer}` does not start with "/".')
        if re.search(r"/\s*?/", pointer[1:]):
            raise _ValidationFailed(f'Pointer `{pointer}` contains adjacent "/".')
        if len(pointer) > 1 and pointer.endswith("/"):
            raise _ValidationFailed(f'Pointer `{pointer}` end with "/".')
        if re.search(r"~[^01]", pointer) or pointer.endswith("~"):
            raise _ValidationFailed(
                f'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.')
        path = [part.replace("~1", "/").replace("~0", "~").strip()
                for part in pointer.lstrip("/").split("/")]
        if len(path) != 2:
            raise _ValidationFailed("Invalid JSON pointer for this resource: "
                                    f"'/{'/'.join(path)}, e.g /metadata/key'")
        value = None
        if op != "remove":
            if "value" not in raw:
                raise _ValidationFailed(f'Operation "{op}" requires a member named "value".')
            value = raw["value"]
            if path[0].lower() != "metadata":
                raise _ValidationFailed("The root of path must be metadata, e.g /metadata/key.")
        return op, path[1], value

    def _get_stats(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        project = self._project(req.project_id)
        empty = {"messages": {"claimed": 0, "free": 0, "total": 0}}
        if queue_name not in project.queues:
            return 200, {}, empty
        now = self._now()
        live = self._live(project, queue_name, now)
        if not live:
            return 200, {}, empty
        claimed = sum(1 for m in live if m.claimed(now))
        stats: dict[str, Any] = {"claimed": claimed, "free": len(live) - claimed, "total": len(live)}
        for key, message in (("newest", live[-1]), ("oldest", live[0])):
            doc = self._basic(message, now)
            del doc["id"]
            created = datetime.datetime.fromtimestamp(self._wall_offset + message.created,
                                                      tz=datetime.UTC)
            doc["created"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
            doc["href"] = f"/v2/queues/{queue_name}/messages/{message.id}"
            stats[key] = doc
        return 200, {}, {"messages": stats}

    def _post_purge(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        document = req.document_or({"resource_types": ["messages", "subscriptions"]})
        if not isinstance(document, dict) or "resource_types" not in document:
            raise _bad_api('Post body must contain key "resource_types".')
        types = document["resource_types"]
        if not isinstance(types, list) or not set(types) <= {"messages", "subscriptions"}:
            raise _bad_api("Resource types must be a sub set of {'messages', 'subscriptions'}.")
        project = self._project(req.project_id)
        if "messages" in types:
            for message in self._live(project, queue_name, self._now()):
                self._remove_message(project, message)
        if "subscriptions" in types:
            for sid in [s.id for s in project.subscriptions.values() if s.source == queue_name]:
                del project.subscriptions[sid]
        return 204, {}, None

    def _post_share(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        document = req.deserialize()
        if not isinstance(document, dict):
            raise _bad_api("Unknown keys: set()")  # Zaqar: AttributeError -> 500; a 400 here
        unknown = set(document) - _SHARE_KEYS
        if unknown:
            raise _bad_api(f"Unknown keys: {unknown}")
        base = req.path[: -len("share")]
        paths = document.get("paths")
        if not paths:
            paths = [base + "messages"]
        else:
            invalid = set(paths) - _SHARE_PATHS
            if invalid:
                raise _bad_api(f"Invalid paths: {invalid}")
            paths = [base + p for p in paths]
        try:
            data = self._signature(paths, document.get("methods"), req.project_id,
                                   document.get("expires"))
        except ValueError as e:
            raise _bad_api(str(e)) from None
        return 200, {}, data

    # -- messages -------------------------------------------------------------

    def _post_messages(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        project = self._project(req.project_id)
        if queue_name not in project.queues:
            project.queues[queue_name] = {}  # created lazily, before the body is checked
        meta = project.queues[queue_name]
        default_ttl = meta.get("_default_message_ttl") or DEFAULT_MESSAGE_TTL
        queue_delay = meta.get("_default_message_delay")
        post_size = meta.get("_max_messages_post_size")
        length = req.content_length
        if length is not None:
            if post_size and _is_int(post_size) and length > min(post_size, MAX_POST_SIZE):
                raise _bad_api(
                    "Message collection size is too large. The max size for current queue is "
                    f"{min(post_size, MAX_POST_SIZE)}. It is calculated by max size = "
                    f"min(max_messages_post_size_config: {MAX_POST_SIZE}, "
                    f"max_messages_post_size_queue: {post_size}).")
            if length > MAX_POST_SIZE:
                raise _bad_api(f"Message collection size is too large. Max size {MAX_POST_SIZE}")
        document = req.deserialize()
        if not isinstance(document, dict) or "messages" not in document:
            raise _bad_api("No messages were found in the request body.")
        raw = document["messages"]
        if not isinstance(raw, list):
            raise _bad_body("Document type not supported.")
        spec: list[tuple[str, Any, Any]] = [("ttl", int, default_ttl), ("body", "*", None)]
        if queue_delay:
            spec.append(("delay", int, queue_delay))
        messages = []
        for item in raw:
            if not isinstance(item, dict):
                raise _bad_body("Document type not supported.")
            filtered = {}
            for name, kind, default in spec:
                if name in item:
                    value = item[name]
                elif default is not None:
                    value = default
                else:
                    raise _bad_body(f'Missing "{name}" field.')
                if kind != "*" and not isinstance(value, kind):
                    raise _bad_body(f'The value of the "{name}" field must be a {kind.__name__}.')
                filtered[name] = value
            messages.append(filtered)
        if not messages:
            raise _bad_api("No messages to enqueu.")
        for message in messages:
            if not MIN_MESSAGE_TTL <= message["ttl"] <= MAX_MESSAGE_TTL:
                raise _bad_api(
                    f"The TTL for a message may not exceed {MAX_MESSAGE_TTL} seconds, and must "
                    f"be at least {MIN_MESSAGE_TTL} seconds long.")
            if not 0 <= message.get("delay", 0) <= MAX_MESSAGE_DELAY:
                raise _bad_api(
                    f"The Delay TTL for a message may not exceed {MAX_MESSAGE_DELAY} seconds,"
                    "and must be at least 0 seconds long.")
        now = self._now()
        ids = []
        msgset = project.msgsets.setdefault(queue_name, [])
        for message in messages:
            self._seq += 1
            mid = str(uuid.uuid4())
            project.messages[mid] = _Message(
                id=mid, queue=queue_name, body=message["body"], ttl=int(message["ttl"]),
                created=now, expires=now + int(message["ttl"]), client_id=req.client_id,
                seq=self._seq, delay_expires=now + int(message.get("delay", 0)),
            )
            msgset.append(mid)
            ids.append(mid)
        return 201, {"location": f"{req.path}?ids={','.join(ids)}"}, {
            "resources": [f"{req.path}/{mid}" for mid in ids]
        }

    def _get_messages(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        ids = req.param_list("ids")
        if ids is not None:
            return self._get_messages_by_id(req, queue_name, ids)
        kwargs: dict[str, Any] = {}
        for key, getter in (("marker", req.param), ("limit", req.param_int),
                            ("echo", req.param_bool), ("include_claimed", req.param_bool),
                            ("include_delayed", req.param_bool)):
            value = getter(key)
            if value is not None:
                kwargs[key] = value
        limit = kwargs.get("limit", DEFAULT_PER_PAGE)
        if not 0 < limit <= MAX_PER_PAGE:
            raise _bad_api(f"Limit must be at least 1 and may not be greater than {MAX_PER_PAGE}.")
        project = self._project(req.project_id)
        if queue_name not in project.queues:
            return 200, {}, {"messages": [], "links": []}
        if not project.queues[queue_name].get("_default_message_delay"):
            kwargs["include_delayed"] = True
        now = self._now()
        live = self._live(project, queue_name, now)
        marker = kwargs.get("marker")
        if marker:
            for index, message in enumerate(live):
                if message.id == marker:
                    live = live[index + 1:]
                    break
        page = []
        for message in live:
            if not kwargs.get("include_claimed") and message.claimed(now):
                continue
            if not kwargs.get("include_delayed") and now < message.delay_expires:
                continue
            if not kwargs.get("echo") and message.client_id == req.client_id:
                continue
            page.append(message)
            if len(page) == limit:
                break
        if not page:
            return 200, {}, {"messages": [], "links": []}
        kwargs["marker"] = page[-1].id
        return 200, {}, {
            "messages": [self._message_doc(m, queue_name, now, self._shown_claim(m, now))
                         for m in page],
            "links": [{"rel": "next", "href": req.path + _to_query_str(kwargs)}],
        }

    def _get_messages_by_id(self, req: _Req, queue_name: str,
                            ids: list[str]) -> tuple[int, dict[str, str], Any]:
        if not 0 < len(ids) <= MAX_PER_PAGE:
            raise _bad_api(f"Limit must be at least 1 and may not be greater than {MAX_PER_PAGE}.")
        project = self._project(req.project_id)
        now = self._now()
        found = []
        if queue_name in project.queues:
            self._live(project, queue_name, now)
            for mid in ids:
                message = project.messages.get(mid)
                if message is not None and message.queue == queue_name and message.expires > now:
                    found.append(message)
        if not found:
            raise _not_found(f"No messages with IDs: {ids!r} found in the queue {queue_name} "
                             f"for project {req.project_id}.")
        return 200, {}, {"messages": [self._message_doc(m, queue_name, now, self._shown_claim(m, now))
                                      for m in found]}

    def _delete_messages(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        ids = req.param_list("ids")
        pop = req.param_int("pop")
        if pop is not None and ids is not None:
            raise _bad_api("pop and id params cannot be present together in the delete request.")
        if pop is None and ids is None:
            raise _bad_api('The request should have either "ids" or "pop" parameter in the '
                           "request, to be able to delete.")
        if pop is not None and not 0 < pop <= MAX_CLAIM_OR_POP:
            raise _bad_api(f"Pop value must be at least 1 and may not be greater than {MAX_CLAIM_OR_POP}.")
        if ids is not None and not 0 < len(ids) <= MAX_PER_PAGE:
            raise _bad_api(f"ids parameter should have at least 1 and not greater than {MAX_PER_PAGE} values.")
        project = self._project(req.project_id)
        if ids:
            if queue_name in project.queues:
                for mid in ids:
                    message = project.messages.get(mid)
                    if message is not None and message.queue == queue_name:
                        self._remove_message(project, message)
            return 204, {}, None
        assert pop is not None
        now = self._now()
        _claim, claimed = self._claim(project, queue_name, now, limit=pop, ttl=1, grace=0)
        popped = [self._basic(m, now) | {"claim_id": _claim.id if _claim else None}
                  for m in claimed]
        for message in claimed:
            self._remove_message(project, message)
        if _claim is not None:
            project.claims.pop(_claim.id, None)
        return 200, {}, {"messages": popped}

    def _get_message(self, req: _Req, queue_name: str, message_id: str) -> tuple[int, dict[str, str], Any]:
        project = self._project(req.project_id)
        if queue_name not in project.queues:
            raise _not_found(f"Queue {queue_name} does not exist for project {req.project_id}")
        now = self._now()
        message = project.messages.get(message_id)
        if message is None or message.queue != queue_name or message.expires <= now:
            raise _not_found(f"Message {message_id} does not exist in queue {queue_name} "
                             f"for project {req.project_id}")
        return 200, {}, self._message_doc(message, queue_name, now, self._shown_claim(message, now))

    def _delete_message(self, req: _Req, queue_name: str,
                        message_id: str) -> tuple[int, dict[str, str], Any]:
        project = self._project(req.project_id)
        now = self._now()
        message = project.messages.get(message_id)
        if (queue_name not in project.queues or message is None or message.queue != queue_name
                or message.expires <= now):
            return 204, {}, None
        claim_id = req.param("claim_id")
        not_found = _HTTPError(400, "Unable to delete",
                               "The specified claim does not exist or has expired.")
        if claim_id is not None:
            try:
                uuid.UUID(claim_id)
            except ValueError:
                raise not_found from None
        if claim_id is None:
            if message.claimed(now):
                raise _HTTPError(403, "Unable to delete", "This message is claimed; it cannot be "
                                 "deleted without a valid claim ID.")
        elif not message.claimed(now):
            raise _HTTPError(400, "Unable to delete",
                             "A claim was specified, but the message is not currently claimed.")
        elif message.claim_id != claim_id:
            if self._live_claim(project, queue_name, claim_id, now) is None:
                raise not_found
            raise _HTTPError(403, "Unable to delete", "This message is claimed; it cannot be "
                             "deleted without a valid claim ID.")
        self._remove_message(project, message)
        return 204, {}, None

    def _remove_message(self, project: _Project, message: _Message) -> None:
        project.messages.pop(message.id, None)
        ids = project.msgsets.get(message.queue)
        if ids is not None and message.id in ids:
            ids.remove(message.id)
        if message.claim_id:
            claim = project.claims.get(message.claim_id)
            if claim is not None and message.id in claim.message_ids:
                claim.message_ids.remove(message.id)

    # -- claims ---------------------------------------------------------------

    def _claim(self, project: _Project, queue_name: str, now: int, limit: int, ttl: int,
               grace: int) -> tuple[_Claim | None, list[_Message]]:
        """
        Claim up to C{limit} free, undelayed messages; move those over the
        queue's C{_max_claim_count} to its dead letter queue (they keep
        the claim: section 3).
        """
        claim_expires = now + ttl
        claimed: list[_Message] = []
        for message in self._live(project, queue_name, now):
            if len(claimed) == limit:
                break
            if message.claimed(now) or now < message.delay_expires:
                continue
            claimed.append(message)
        if not claimed:
            return None, []
        claim = _Claim(id=str(uuid.uuid4()), queue=queue_name, ttl=ttl, expires=claim_expires,
                       message_ids=[m.id for m in claimed])
        project.claims[claim.id] = claim
        for message in claimed:
            message.claim_id = claim.id
            message.claim_expires = claim_expires
            if message.expires < claim_expires:
                message.ttl = ttl + grace
                message.expires = claim_expires + grace
        meta = project.queues.get(queue_name, {})
        if "_max_claim_count" in meta and "_dead_letter_queue" in meta:
            moved = []
            for message in claimed:
                if message.claim_count < meta["_max_claim_count"]:
                    message.claim_count += 1
                    continue
                dlq = meta["_dead_letter_queue"]
                dlq_ttl = meta.get("_dead_letter_queue_messages_ttl")
                if dlq_ttl:
                    message.ttl = dlq_ttl
                    message.expires = message.created + dlq_ttl
                project.msgsets[queue_name].remove(message.id)
                project.msgsets.setdefault(dlq, []).append(message.id)
                message.queue = dlq
                moved.append(message)
            claimed = [m for m in claimed if m not in moved]
            if not claimed:
                return None, []
        return claim, claimed

    def _post_claims(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        limit = req.param_int("limit")
        if not req.content_length:
            metadata = {"ttl": DEFAULT_CLAIM_TTL, "grace": DEFAULT_CLAIM_GRACE}
        else:
            metadata = self._claim_document(req.deserialize())
        self._check_claim_ttl(metadata["ttl"])
        if limit is not None and not 0 < limit <= MAX_CLAIM_OR_POP:
            raise _bad_api(f"Limit must be at least 1 and may not be greater than {MAX_CLAIM_OR_POP}.")
        if not MIN_CLAIM_GRACE <= metadata["grace"] <= MAX_CLAIM_GRACE:
            raise _bad_api(f"The grace for a claim may not exceed {MAX_CLAIM_GRACE} seconds, and "
                           f"must be at least {MIN_CLAIM_GRACE} seconds long.")
        project = self._project(req.project_id)
        now = self._now()
        claim, claimed = self._claim(project, queue_name, now,
                                     DEFAULT_CLAIM_LIMIT if limit is None else limit,
                                     metadata["ttl"], metadata["grace"])
        if claim is None:
            return 204, {}, None
        return 201, {"location": f"{req.path}/{claim.id}"}, {
            "messages": [self._message_doc(m, queue_name, now, claim.id) for m in claimed]
        }

    @staticmethod
    def _claim_document(document: Any) -> dict[str, int]:
        if not isinstance(document, dict):
            raise _bad_body("Document type not supported.")
        result = {}
        for name, default in (("ttl", DEFAULT_CLAIM_TTL), ("grace", DEFAULT_CLAIM_GRACE)):
            value = document.get(name, default)
            if not isinstance(value, int):
                raise _bad_body(f'The value of the "{name}" field must be a int.')
            result[name] = value
        return result

    @staticmethod
    def _check_claim_ttl(ttl: int) -> None:
        if not MIN_CLAIM_TTL <= ttl <= MAX_CLAIM_TTL:
            raise _bad_api(f"The TTL for a claim may not exceed {MAX_CLAIM_TTL} seconds, and must "
                           f"be at least {MIN_CLAIM_TTL} seconds long.")

    def _claim_or_404(self, req: _Req, queue_name: str, claim_id: str, now: int) -> _Claim:
        project = self._project(req.project_id)
        claim = None
        if queue_name in project.queues:
            claim = self._live_claim(project, queue_name, claim_id, now)
        if claim is None:
            raise _not_found(f"Claim {claim_id} does not exist in queue {queue_name} "
                             f"for project {req.project_id}")
        return claim

    def _claimed_messages(self, project: _Project, claim: _Claim, now: int) -> list[_Message]:
        found = []
        for mid in claim.message_ids:
            message = project.messages.get(mid)
            if message is not None and message.expires > now:
                found.append(message)
        return found

    def _get_claim(self, req: _Req, queue_name: str, claim_id: str) -> tuple[int, dict[str, str], Any]:
        now = self._now()
        claim = self._claim_or_404(req, queue_name, claim_id, now)
        project = self._project(req.project_id)
        messages = self._claimed_messages(project, claim, now)
        return 200, {}, {
            "age": now - (claim.expires - claim.ttl),
            "ttl": claim.ttl,
            "messages": [self._message_doc(m, queue_name, now, claim_id) for m in messages],
            "href": req.path,
        }

    def _patch_claim(self, req: _Req, queue_name: str, claim_id: str) -> tuple[int, dict[str, str], Any]:
        metadata = self._claim_document(req.deserialize())
        self._check_claim_ttl(metadata["ttl"])
        now = self._now()
        claim = self._claim_or_404(req, queue_name, claim_id, now)
        project = self._project(req.project_id)
        ttl, grace = metadata["ttl"], metadata["grace"]
        claim.ttl = ttl
        claim.expires = now + ttl
        for message in self._claimed_messages(project, claim, now):
            message.claim_id = claim.id
            message.claim_expires = claim.expires
            if message.expires < claim.expires:
                message.ttl = ttl + grace
                message.expires = claim.expires + grace
        return 204, {}, None

    def _delete_claim(self, req: _Req, queue_name: str, claim_id: str) -> tuple[int, dict[str, str], Any]:
        project = self._project(req.project_id)
        claim = project.claims.get(claim_id)
        if claim is not None and claim.queue == queue_name:
            now = self._now()
            for message in self._claimed_messages(project, claim, now):
                if message.claim_id == claim_id:
                    message.claim_id = None
                    message.claim_expires = now
            del project.claims[claim_id]
        return 204, {}, None

    # -- subscriptions --------------------------------------------------------

    def _live_subscriptions(self, project: _Project, queue_name: str, now: int) -> list[_Subscription]:
        for sid in [s.id for s in project.subscriptions.values() if s.expires <= now]:
            del project.subscriptions[sid]
        return sorted((s for s in project.subscriptions.values() if s.source == queue_name),
                      key=lambda s: s.id)

    def _check_subscription(self, document: Any) -> None:
        """C{Validator.subscription_patching}."""
        if not document:
            raise _ValidationFailed("No subscription to create.")
        if not isinstance(document, dict):
            raise _ValidationFailed("Subscriptions must be a dict.")
        subscriber = document.get("subscriber")
        if subscriber:
            scheme = subscriber.split(":", 1)[0] if isinstance(subscriber, str) and ":" in subscriber else ""
            if scheme not in SUBSCRIBER_TYPES:
                raise _ValidationFailed("The subscriber type of subscription must be supported in "
                                        f"the list {SUBSCRIBER_TYPES}.")
        options = document.get("options")
        if options and not isinstance(options, dict):
            raise _ValidationFailed("Options must be a dict.")
        self._check_retry_policy(options.get("_retry_policy") if isinstance(options, dict) else None)
        ttl = document.get("ttl")
        if ttl:
            if not _is_int(ttl):
                raise _ValidationFailed("TTL must be an integer.")
            if ttl < MIN_SUBSCRIPTION_TTL:
                raise _ValidationFailed("The TTL for a subscription must be at least "
                                        f"{MIN_SUBSCRIPTION_TTL} seconds long.")
            try:
                self._wall() + datetime.timedelta(seconds=ttl)
            except OverflowError:
                raise _ValidationFailed("The TTL seconds for a subscription plus current time must "
                                        f"be less than {datetime.datetime.max}.") from None

    @staticmethod
    def _subscription_doc(s: _Subscription, now: int) -> dict[str, Any]:
        return {"id": s.id, "source": s.source, "subscriber": s.subscriber, "ttl": s.ttl,
                "age": now - (s.expires - s.ttl), "options": s.options, "confirmed": s.confirmed}

    def _get_subscriptions(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        kwargs: dict[str, Any] = {}
        marker = req.param("marker")
        if marker is not None:
            kwargs["marker"] = marker
        limit = req.param_int("limit")
        if limit is not None:
            kwargs["limit"] = limit
            if not 0 < limit <= MAX_PER_PAGE:
                raise _bad_api(f"Limit must be at least 1 and may not be greater than {MAX_PER_PAGE}.")
        now = self._now()
        subscriptions = self._live_subscriptions(self._project(req.project_id), queue_name, now)
        if marker:
            subscriptions = [s for s in subscriptions if s.id > marker]
        page = subscriptions[: limit or DEFAULT_PER_PAGE]
        kwargs["marker"] = page[-1].id if page else kwargs.get("marker", "")
        links = [{"rel": "next", "href": req.path + _to_query_str(kwargs)}] if page else []
        return 200, {}, {"subscriptions": [self._subscription_doc(s, now) for s in page],
                         "links": links}

    def _post_subscriptions(self, req: _Req, queue_name: str) -> tuple[int, dict[str, str], Any]:
        document = req.document_or({})
        project = self._project(req.project_id)
        if queue_name not in project.queues:
            project.queues[queue_name] = {}
        try:
            if not isinstance(document, dict) or "subscriber" not in document:
                raise _ValidationFailed("Missing parameter subscriber in body.")
            self._check_subscription(document)
        except _ValidationFailed as e:
            raise _bad_api(str(e)) from None
        subscriber = document["subscriber"]
        ttl = document.get("ttl", DEFAULT_SUBSCRIPTION_TTL)
        if not _is_int(ttl) or not ttl:
            ttl = DEFAULT_SUBSCRIPTION_TTL
        now = self._now()
        for existing in self._live_subscriptions(project, queue_name, now):
            if existing.subscriber == subscriber:
                if existing.confirmed:
                    raise _HTTPError(409, "Resource conflict",
                                     "Such subscription already exists.Subscriptions are unique "
                                     "by project + queue + subscriber URI.",
                                     headers={"location": req.path})
                return 201, {"location": req.path}, {"subscription_id": existing.id}
        subscription = _Subscription(
            id=str(uuid.uuid4()), source=queue_name, subscriber=subscriber, ttl=ttl,
            expires=now + ttl, options=document.get("options", {}),
        )
        project.subscriptions[subscription.id] = subscription
        return 201, {"location": req.path}, {"subscription_id": subscription.id}

    def _subscription_or_404(self, req: _Req, queue_name: str, subscription_id: str) -> _Subscription:
        project = self._project(req.project_id)
        for subscription in self._live_subscriptions(project, queue_name, self._now()):
            if subscription.id == subscription_id:
                return subscription
        raise _not_found(f"Subscription {subscription_id} does not exist")

    def _get_subscription(self, req: _Req, queue_name: str,
                          subscription_id: str) -> tuple[int, dict[str, str], Any]:
        subscription = self._subscription_or_404(req, queue_name, subscription_id)
        return 200, {}, self._subscription_doc(subscription, self._now())

    def _patch_subscription(self, req: _Req, queue_name: str,
                            subscription_id: str) -> tuple[int, dict[str, str], Any]:
        document = req.document_or({})
        try:
            self._check_subscription(document)
        except _ValidationFailed as e:
            raise _bad_api(str(e)) from None
        fields = {k: document[k] for k in ("subscriber", "ttl", "options")
                  if document.get(k) is not None}
        if not fields:
            raise _HTTPError(400, "Unable to update subscription",
                             f"Subscription {subscription_id} could not be updated.")
        subscription = self._subscription_or_404(req, queue_name, subscription_id)
        new = fields.get("subscriber")
        if new and new != subscription.subscriber:
            project = self._project(req.project_id)
            if any(s.subscriber == new for s in self._live_subscriptions(project, queue_name, self._now())):
                raise _conflict("Such subscription already exists. Subscriptions are unique by "
                                "project + queue + subscriber URI.")
            subscription.subscriber = new
        if "options" in fields:
            subscription.options = fields["options"]
        if "ttl" in fields:
            subscription.ttl = fields["ttl"]
            subscription.expires = self._now() + fields["ttl"]
        return 204, {"location": req.path}, None

    def _delete_subscription(self, req: _Req, queue_name: str,
                             subscription_id: str) -> tuple[int, dict[str, str], Any]:
        project = self._project(req.project_id)
        subscription = project.subscriptions.get(subscription_id)
        if subscription is not None and subscription.source == queue_name:
            del project.subscriptions[subscription_id]
        return 204, {}, None

    def _put_confirm(self, req: _Req, queue_name: str,
                     subscription_id: str) -> tuple[int, dict[str, str], Any]:
        document = req.document_or({})
        confirmed = document.get("confirmed") if isinstance(document, dict) else None
        if not isinstance(confirmed, bool):
            raise _bad_api("The 'confirmed' should be boolean.")
        subscription = self._subscription_or_404(req, queue_name, subscription_id)
        subscription.confirmed = confirmed
        return 204, {"location": req.path}, None
