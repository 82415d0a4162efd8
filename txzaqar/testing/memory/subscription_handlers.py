"""
The handlers of the subscription routes.  Each takes the L{Context}, the
L{WireRequest} and the path's parameters and returns a L{Response} or
raises an L{ErrorResponse} (or a L{records.ModelError}, answered by
L{wire.error_for}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import checks
from .checks import DEFAULT_PER_PAGE, DEFAULT_SUBSCRIPTION_TTL
from .records import SubscriptionExists
from .wire import (
    ErrorResponse,
    Response,
    WireRequest,
    bad_api,
    check_bound,
    conflict,
    has_surrogate,
    refused_as,
    storable,
    subscription_document,
    to_query_str,
)

if TYPE_CHECKING:
    from .routes import Context

__all__ = [
    "delete_subscription",
    "get_subscription",
    "get_subscriptions",
    "patch_subscription",
    "post_subscriptions",
    "put_confirm",
]


def _check_document(ctx: Context, document: Any) -> None:
    with refused_as(bad_api):
        checks.check_subscription(document, ctx.state.wall())


def get_subscriptions(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """A page of a queue's subscriptions, by id."""
    kwargs: dict[str, Any] = {}
    marker = req.param("marker")
    if marker is not None:
        kwargs["marker"] = marker
    limit = req.param_int("limit")
    if limit is not None:
        kwargs["limit"] = limit
        check_bound("subscription limit", limit)
    page = ctx.state.subscription_listing(req.project_id, queue_name, marker,
                                          limit or DEFAULT_PER_PAGE)
    kwargs["marker"] = page[-1].id if page else kwargs.get("marker", "")
    links = [{"rel": "next", "href": req.path + to_query_str(kwargs)}] if page else []
    now = ctx.state.now()
    return 200, {}, {"subscriptions": [subscription_document(s, now) for s in page],
                     "links": links}


def post_subscriptions(ctx: Context, req: WireRequest, queue_name: str) -> Response:
    """
    Subscribe: 201 with the id (an unconfirmed subscription with the same
    subscriber is returned as it is); 409 if a confirmed one exists.  A
    missing queue is created first.
    """
    document = req.document_or({})
    ctx.state.ensure_queue(req.project_id, queue_name)
    if not isinstance(document, dict) or "subscriber" not in document:
        raise bad_api("Missing parameter subscriber in body.")
    _check_document(ctx, document)
    ttl = document.get("ttl", DEFAULT_SUBSCRIPTION_TTL)
    if not isinstance(ttl, int) or not ttl:
        ttl = DEFAULT_SUBSCRIPTION_TTL
    storable(document, "Subscription could not be created.")
    headers = {"location": req.path}
    try:
        subscription_id = ctx.state.create_subscription(
            req.project_id, queue_name, document["subscriber"], ttl, document.get("options", {}))
    except SubscriptionExists:
        # Zaqar's text, without the space of the PATCH one.
        raise ErrorResponse(409, "Resource conflict",
                            "Such subscription already exists.Subscriptions are unique "
                            "by project + queue + subscriber URI.", headers=headers) from None
    return 201, headers, {"subscription_id": subscription_id}


def get_subscription(ctx: Context, req: WireRequest, queue_name: str,
                     subscription_id: str) -> Response:
    """
    C{GET /v2/queues/{queue_name}/subscriptions/{subscription_id}}: one subscription.

    @raise NoSuchSubscription: no such subscription.
    """
    subscription = ctx.state.subscription(req.project_id, queue_name, subscription_id)
    return 200, {}, subscription_document(subscription, ctx.state.now())


def patch_subscription(ctx: Context, req: WireRequest, queue_name: str,
                       subscription_id: str) -> Response:
    """Change a subscription's subscriber, ttl or options: 204."""
    document = req.document_or({})
    _check_document(ctx, document)
    fields = {k: document[k] for k in ("subscriber", "ttl", "options")
              if document.get(k) is not None}
    if not fields or has_surrogate(fields):
        # Zaqar 23.0.1 says the same of a value its storage cannot take (a lone surrogate).
        raise ErrorResponse(400, "Unable to update subscription",
                            f"Subscription {subscription_id} could not be updated.")
    try:
        ctx.state.update_subscription(req.project_id, queue_name, subscription_id, **fields)
    except SubscriptionExists:
        raise conflict("Such subscription already exists. Subscriptions are unique by "
                       "project + queue + subscriber URI.") from None
    return 204, {"location": req.path}, None


def delete_subscription(ctx: Context, req: WireRequest, queue_name: str,
                        subscription_id: str) -> Response:
    """Delete a subscription: 204, also if it is gone."""
    ctx.state.delete_subscription(req.project_id, queue_name, subscription_id)
    return 204, {}, None


def put_confirm(ctx: Context, req: WireRequest, queue_name: str,
                subscription_id: str) -> Response:
    """Confirm (or unconfirm) a subscription: 204."""
    document = req.document_or({})
    confirmed = document.get("confirmed") if isinstance(document, dict) else None
    if not isinstance(confirmed, bool):
        raise bad_api("The 'confirmed' should be boolean.")
    ctx.state.confirm_subscription(req.project_id, queue_name, subscription_id, confirmed)
    return 204, {"location": req.path}, None
