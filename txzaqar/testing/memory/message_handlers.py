"""
The handlers of the message and claim routes.  Each takes the L{Context},
the L{WireRequest} and the path's parameters and returns a L{Response} or
raises an L{ErrorResponse} (or a L{records.ModelError}, answered by
L{wire.error_for}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import checks, encryption
from .checks import (
    DEFAULT_CLAIM_GRACE,
    DEFAULT_CLAIM_LIMIT,
    DEFAULT_CLAIM_TTL,
    DEFAULT_MESSAGE_TTL,
    DEFAULT_PER_PAGE,
    MAX_POST_SIZE,
)
from .records import NewMessage
from .wire import (
    ErrorResponse,
    Response,
    WireRequest,
    bad_api,
    bad_body,
    check_bound,
    message_document,
    message_summary,
    refused_as,
    storable,
    to_query_str,
)

if TYPE_CHECKING:
    from .routes import Context

__all__ = [
    "delete_claim",
    "delete_message",
    "delete_messages",
    "get_claim",
    "get_message",
    "get_messages",
    "patch_claim",
    "post_claims",
    "post_messages",
]


# -- messages -------------------------------------------------------------------


def post_messages(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """Post messages: 201 with their hrefs.  A missing queue is created first."""
    # Created lazily, before the body is checked.
    meta = ctx.state.ensure_queue(req.project_id, queue_name)
    default_ttl = meta.get("_default_message_ttl") or DEFAULT_MESSAGE_TTL
    queue_delay = meta.get("_default_message_delay")
    post_size = meta.get("_max_messages_post_size")
    length = req.content_length
    if length is not None:
        if post_size and isinstance(post_size, int) and length > min(post_size, MAX_POST_SIZE):
            raise bad_api(checks.queue_post_size_description(post_size))
        check_bound("post size", length)
    document = req.deserialize()
    if not isinstance(document, dict) or "messages" not in document:
        raise bad_api("No messages were found in the request body.")
    with refused_as(bad_body):
        messages = checks.message_fields(document["messages"], default_ttl, queue_delay)
    if not messages:
        raise bad_api("No messages to enqueu.")
    storable(messages, "Messages could not be enqueued.")
    for message in messages:
        check_bound("message ttl", message["ttl"])
        check_bound("message delay", message.get("delay", 0))
    ids = ctx.state.post_messages(
        req.project_id, queue_name,
        [NewMessage(body=m["body"], ttl=m["ttl"], delay=m.get("delay", 0)) for m in messages],
        req.client_id,
    )
    return 201, {"location": f"{req.path}?ids={','.join(ids)}"}, {
        "resources": [f"{req.path}/{mid}" for mid in ids]
    }


def get_messages(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """A page of messages, or the messages named by C{ids}."""
    ids = req.param_list("ids")
    if ids is not None:
        return _get_messages_by_id(ctx, req, queue_name, ids)
    kwargs: dict[str, Any] = {}
    for key, getter in (("marker", req.param), ("limit", req.param_int),
                        ("echo", req.param_bool), ("include_claimed", req.param_bool),
                        ("include_delayed", req.param_bool)):
        value = getter(key)
        if value is not None:
            kwargs[key] = value
    limit = kwargs.get("limit", DEFAULT_PER_PAGE)
    check_bound("message limit", limit)
    page = ctx.state.list_messages(
        req.project_id, queue_name, kwargs.get("marker"), limit,
        include_claimed=bool(kwargs.get("include_claimed")),
        include_delayed=bool(kwargs.get("include_delayed")),
        echo=bool(kwargs.get("echo")), client_id=req.client_id,
    )
    if not page:
        return 200, {}, {"messages": [], "links": []}
    if not ctx.state.delays_messages(req.project_id, queue_name):
        # The next link says what the listing did.
        kwargs["include_delayed"] = True
    kwargs["marker"] = page[-1].id
    now = ctx.state.now()
    decrypted = ctx.state.decrypts(req.project_id, queue_name)
    _decryptable(page, decrypted, "Messages could not be listed.")
    return 200, {}, {
        "messages": [message_document(m, queue_name, now, m.shown_claim(now), decrypted)
                     for m in page],
        "links": [{"rel": "next", "href": req.path + to_query_str(kwargs)}],
    }


def _decryptable(messages: list[Any], decrypted: bool, description: str) -> None:
    """A decrypting read of an undecryptable body is a 503 (see L{encryption})."""
    if decrypted and any(encryption.undecryptable(m.body) for m in messages):
        raise ErrorResponse(503, "Service temporarily unavailable",
                            description + " Please try again in a few seconds.")


def _get_messages_by_id(ctx: Context, req: WireRequest, queue_name: str,
                        ids: list[str]) -> Response:
    check_bound("message limit", len(ids))
    found = ctx.state.messages_by_id(req.project_id, queue_name, ids)
    now = ctx.state.now()
    decrypted = ctx.state.decrypts(req.project_id, queue_name)
    _decryptable(found, decrypted, "Message could not be retrieved.")
    return 200, {}, {"messages": [message_document(m, queue_name, now, m.shown_claim(now), decrypted)
                                  for m in found]}


def delete_messages(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """
    Delete the messages named by C{ids} (claimed or not): 204; or pop
    C{pop} messages: 200 with them, even when none was free (quirk 9 of L{txzaqar.testing.quirks}, kept).
    """
    ids = req.param_list("ids")
    pop = req.param_int("pop")
    if pop is not None and ids is not None:
        raise bad_api("pop and id params cannot be present together in the delete request.")
    if pop is None and ids is None:
        raise bad_api('The request should have either "ids" or "pop" parameter in the '
                      "request, to be able to delete.")
    if pop is not None:
        check_bound("pop", pop)
    if ids is not None:
        check_bound("ids", len(ids))
    if ids:
        ctx.state.delete_messages(req.project_id, queue_name, ids)
        return 204, {}, None
    assert pop is not None
    claim_id, popped = ctx.state.pop(req.project_id, queue_name, pop)
    now = ctx.state.now()
    return 200, {}, {"messages": [message_summary(m, now) | {"claim_id": claim_id}
                                  for m in popped]}


def get_message(ctx: Context, req: WireRequest, queue_name: str, message_id: str) -> Response:
    """
    C{GET /v2/queues/{queue_name}/messages/{message_id}}: one message.

    @raise NoSuchQueue: no such queue.
    @raise NoSuchMessage: no such message.
    """
    message = ctx.state.message(req.project_id, queue_name, message_id)
    now = ctx.state.now()
    decrypted = ctx.state.decrypts(req.project_id, queue_name)
    _decryptable([message], decrypted, "Message could not be retrieved.")
    return 200, {}, message_document(message, queue_name, now, message.shown_claim(now), decrypted)


def delete_message(ctx: Context, req: WireRequest, queue_name: str,
                   message_id: str) -> Response:
    """Delete one message (a claimed one with C{claim_id}): 204, also if it is gone."""
    ctx.state.delete_message(req.project_id, queue_name, message_id, req.param("claim_id"))
    return 204, {}, None


# -- claims -----------------------------------------------------------------------


def _claim_document(req: WireRequest) -> dict[str, int]:
    with refused_as(bad_body):
        return checks.claim_document(req.deserialize())


def post_claims(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """Claim messages: 201 with them, or 204 when none was free (quirk 9 of L{txzaqar.testing.quirks}, kept)."""
    limit = req.param_int("limit")
    if not req.content_length:
        metadata = {"ttl": DEFAULT_CLAIM_TTL, "grace": DEFAULT_CLAIM_GRACE}
    else:
        metadata = _claim_document(req)
    check_bound("claim ttl", metadata["ttl"])
    if limit is not None:
        check_bound("claim limit", limit)
    check_bound("claim grace", metadata["grace"])
    claim, claimed = ctx.state.claim(req.project_id, queue_name,
                                     DEFAULT_CLAIM_LIMIT if limit is None else limit,
                                     metadata["ttl"], metadata["grace"])
    if claim is None:
        return 204, {}, None
    now = ctx.state.now()
    return 201, {"location": f"{req.path}/{claim.id}"}, {
        "messages": [message_document(m, queue_name, now, claim.id) for m in claimed]
    }


def get_claim(ctx: Context, req: WireRequest, queue_name: str, claim_id: str) -> Response:
    """
    C{GET /v2/queues/{queue_name}/claims/{claim_id}}: a claim and its messages.

    @raise NoSuchClaim: no such live claim.
    """
    claim, messages = ctx.state.get_claim(req.project_id, queue_name, claim_id)
    now = ctx.state.now()
    return 200, {}, {
        "age": now - (claim.expires - claim.ttl),
        "ttl": claim.ttl,
        "messages": [message_document(m, queue_name, now, claim_id) for m in messages],
        "href": req.path,
    }


def patch_claim(ctx: Context, req: WireRequest, queue_name: str, claim_id: str) -> Response:
    """Renew a claim (omitted fields take the defaults): 204."""
    metadata = _claim_document(req)
    check_bound("claim ttl", metadata["ttl"])
    ctx.state.renew_claim(req.project_id, queue_name, claim_id, metadata["ttl"], metadata["grace"])
    return 204, {}, None


def delete_claim(ctx: Context, req: WireRequest, queue_name: str, claim_id: str) -> Response:
    """Release a claim: 204, also if it is gone."""
    ctx.state.release_claim(req.project_id, queue_name, claim_id)
    return 204, {}, None
