"""
The handlers of the queue routes: list, get, create, patch, delete, stats,
purge and share.  Each takes the L{Context}, the L{WireRequest} and the
path's parameters and returns a L{Response} or raises an L{ErrorResponse}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import checks, signing
from .checks import BOUNDS, DEFAULT_PER_PAGE
from .records import NoSuchQueue, patched_metadata, with_defaults
from .wire import (
    JSON_PATCH_TYPE,
    ErrorResponse,
    Response,
    WireRequest,
    bad_api,
    bad_body,
    check_bound,
    message_summary,
    refused_as,
    storable,
    to_query_str,
)

if TYPE_CHECKING:
    from .routes import Context

__all__ = [
    "delete_queue",
    "get_queue",
    "get_queues",
    "get_stats",
    "patch_queue",
    "post_purge",
    "post_share",
    "put_queue",
]

_SHARE_KEYS = {"paths", "methods", "expires"}
_SHARE_PATHS = {"messages", "subscriptions", "claims"}
_PURGE_TYPES = {"messages", "subscriptions"}


def get_queues(ctx: Context, req: WireRequest) -> Response:
    """
    A page of queues, sorted by name.  A query parameter other than the
    listing's own is a filter on metadata (an integer when it parses as one).
    """
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
    if limit is not None:
        check_bound("queue limit", limit)
    with_count = kwargs.pop("with_count", False)
    names, total = ctx.state.queue_listing(req.project_id, kwargs.get("name"), kfilter,
                                           kwargs.get("marker"), limit or DEFAULT_PER_PAGE)
    # Zaqar 23.0.1 on Redis cuts a listed name at its first dot (its names
    # key is "project.queue", split on "."): "a.b" is listed as "a" (with the
    # metadata of "a", defaults if none), "." as "".  Its API reference (and
    # the client) allow no dot in a name; the server's own check does.
    shown = [name.partition(".")[0] for name in names]
    queues = []
    for name in shown:
        doc: dict[str, Any] = {"name": name}
        if kwargs.get("detailed"):
            doc["metadata"] = with_defaults(ctx.state.metadata(req.project_id, name) or {})
        doc["href"] = f"{req.path}/{name}"
        queues.append(doc)
    kwargs["marker"] = shown[-1] if shown else kwargs.get("marker", "")
    links = [{"rel": "next", "href": req.path + to_query_str(kwargs)}] if queues else []
    body: dict[str, Any] = {"queues": queues, "links": links}
    if with_count and total:
        body["count"] = total
    return 200, {}, body


def get_queue(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """
    A queue's metadata with the reserved defaults.  A missing queue is a
    200 with the defaults (quirk 3 of L{txzaqar.testing.quirks}, kept: part of how the API is used).
    """
    metadata = ctx.state.metadata(req.project_id, queue_name) or {}
    return 200, {}, with_defaults(metadata)


def put_queue(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """
    Create a queue: 201, or 204 if it exists, whose metadata then stays as
    it was (quirk 3 of L{txzaqar.testing.quirks}, kept).  The body is checked either way.
    """
    with refused_as(bad_api):
        if req.content_length is not None:
            BOUNDS["metadata size"].check(req.content_length)
        metadata = None
        if req.content_length:
            metadata = req.deserialize()
            if not isinstance(metadata, dict):
                raise bad_body(checks.DOCUMENT_NOT_SUPPORTED)
        checks.check_metadata(metadata)
    storable(metadata, "Queue could not be created.")
    headers = {"location": req.path}
    if ctx.state.create_queue(req.project_id, queue_name, metadata):
        return 201, headers, None
    return 204, headers, None


def delete_queue(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """C{DELETE /v2/queues/{queue_name}}: a 204, whether or not the queue existed."""
    ctx.state.delete_queue(req.project_id, queue_name)
    return 204, {}, None


def patch_queue(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """Change a queue's metadata with JSON-patch operations; 200 with the result."""
    if req.content_length is not None:
        with refused_as(bad_body):
            BOUNDS["metadata size"].check(req.content_length)
    if req.content_type != JSON_PATCH_TYPE:
        raise ErrorResponse(
            415, "415 Unsupported Media Type",
            "Accepted media type for PATCH: "
            f"{{'Accept-Patch': '{JSON_PATCH_TYPE}'}}.")
    if not req.content_length:
        raise bad_body("PATCH body could not be empty for update.")
    changes = req.deserialize()
    if not isinstance(changes, list):
        # Zaqar 23.0.1 answers 503 here (quirk 6 of txzaqar.testing.quirks).
        raise bad_body(checks.DOCUMENT_NOT_SUPPORTED)
    with refused_as(bad_body):
        washed = [checks.wash_change(change) for change in changes]
    stored = ctx.state.metadata(req.project_id, queue_name)
    if stored is None:
        raise NoSuchQueue(req.project_id, queue_name)
    metadata = patched_metadata(stored, washed)
    with refused_as(bad_body):
        checks.check_metadata(metadata)
    storable(metadata, "Queue could not be updated.")
    ctx.state.set_metadata(req.project_id, queue_name, metadata)
    return 200, {}, with_defaults(metadata)


def get_stats(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """Message counts (see L{model.ZaqarState.queue_stats}), and the oldest and newest message."""
    stats = ctx.state.queue_stats(req.project_id, queue_name)
    if stats is None:
        return 200, {}, {"messages": {"claimed": 0, "free": 0, "total": 0}}
    now = ctx.state.now()
    doc: dict[str, Any] = {"claimed": stats.claimed, "free": stats.free, "total": stats.total}
    for key, message in (("newest", stats.newest), ("oldest", stats.oldest)):
        summary = message_summary(message, now)
        del summary["id"]
        summary["created"] = ctx.state.created_at(message).strftime("%Y-%m-%dT%H:%M:%SZ")
        summary["href"] = f"/v2/queues/{queue_name}/messages/{message.id}"
        doc[key] = summary
    return 200, {}, {"messages": doc}


def post_purge(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """Remove a queue's messages and/or subscriptions (see L{model.ZaqarState.purge})."""
    document = req.document_or({"resource_types": ["messages", "subscriptions"]})
    if not isinstance(document, dict) or "resource_types" not in document:
        raise bad_api('Post body must contain key "resource_types".')
    types = document["resource_types"]
    if not isinstance(types, list) or not set(types) <= _PURGE_TYPES:
        raise bad_api("Resource types must be a sub set of {'messages', 'subscriptions'}.")
    ctx.state.purge(req.project_id, queue_name, messages="messages" in types,
                    subscriptions="subscriptions" in types)
    return 204, {}, None


def post_share(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """A pre-signed URL for some of the queue's paths: 200 (quirk 9 of L{txzaqar.testing.quirks}, kept)."""
    document = req.deserialize()
    if not isinstance(document, dict):
        raise bad_api("Unknown keys: set()")  # Zaqar: AttributeError -> 500; a 400 here
    unknown = set(document) - _SHARE_KEYS
    if unknown:
        raise bad_api(f"Unknown keys: {unknown}")
    base = req.path[: -len("share")]
    paths = document.get("paths")
    if not paths:
        paths = [base + "messages"]
    else:
        invalid = set(paths) - _SHARE_PATHS
        if invalid:
            raise bad_api(f"Invalid paths: {invalid}")
        paths = [base + p for p in paths]
    try:
        data = signing.sign(ctx.secret_key, paths, document.get("methods"), req.project_id,
                            document.get("expires"), ctx.state.wall())
    except ValueError as e:
        raise bad_api(str(e)) from None
    return 200, {}, data
