"""
The push options of C{twistd zaqar-listen} (C{--push}, C{--websocket-url},
C{--webhook-listen}, C{--webhook-url}; C{--safety-interval} and
C{--safety-rate} are L{SubscriberSettings} fields): their check, and the L{IWakeSource} they
describe.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from twisted.python import usage

from .._support import validation as v
from ..auth import _environment as environment
from ..errors import ClientValidationError
from ..ops.health import check_endpoint

#: The values of C{--push}.
PUSH_KINDS = ("websocket", "webhook")

#: The options, as C{usage.Options.optParameters} rows.
PUSH_PARAMETERS = [
    ["push", None, None, "wake queues at once by Zaqar's push notifications: websocket (its "
     "WebSocket transport) or webhook (it POSTs to --webhook-url); polling stays on as the "
     "safety net [default: none, polling only]"],
    ["websocket-url", None, None, "Zaqar's WebSocket transport, ws:// or wss:// [default: "
     "$ZAQAR_WEBSOCKET_URL; with Keystone, the catalog's messaging-websocket]"],
    ["webhook-listen", None, None, "where the webhook receiver listens, a Twisted endpoint such "
     "as tcp:8090:interface=127.0.0.1"],
    ["webhook-url", None, None, "the public http(s) URL at which Zaqar reaches --webhook-listen "
     "(a secret path is added)"],
    ["safety-interval", None, "300", "with --push: seconds between polls of an idle queue while "
     "its notifications flow"],
    ["safety-rate", None, "4", "with --push: the most of those safety polls per second over all "
     "queues; with more than --safety-interval x --safety-rate queues, each is polled less often"],
]


def check_push_options(options: Any) -> None:
    """
    Check the push options in C{options} (a parsed C{usage.Options});
    sets C{options["websocket-url"]} from the environment when needed.

    @raise usage.UsageError: one line saying what to fix.
    """
    kind = options["push"]
    if kind is not None and kind not in PUSH_KINDS:
        raise usage.UsageError(f"--push must be websocket or webhook, not {kind!r}")
    websocket_url = options["websocket-url"]
    if kind == "websocket":
        websocket_url = websocket_url or environment.variable("ZAQAR_WEBSOCKET_URL")
        if websocket_url is None and options["keystone"] is None:
            raise usage.UsageError(
                "--push websocket needs --websocket-url (or $ZAQAR_WEBSOCKET_URL) without Keystone, "
                "e.g. --websocket-url ws://127.0.0.1:9000"
            )
        options["websocket-url"] = websocket_url
    elif websocket_url is not None:
        raise usage.UsageError("--websocket-url is used only with --push websocket")
    if websocket_url is not None:
        try:
            v.websocket_url(websocket_url)
        except ClientValidationError:
            raise usage.UsageError(
                f"--websocket-url must be a ws:// or wss:// URL, not {websocket_url!r}"
            ) from None
    listen, url = options["webhook-listen"], options["webhook-url"]
    if kind != "webhook":
        if listen is not None or url is not None:
            raise usage.UsageError("--webhook-listen and --webhook-url are used only with --push webhook")
        return
    if listen is None or url is None:
        raise usage.UsageError("--push webhook needs --webhook-listen and --webhook-url")
    try:
        check_endpoint(listen)
    except ValueError as e:
        raise usage.UsageError(f"--webhook-listen: {e}") from None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise usage.UsageError(f"--webhook-url must be an http:// or https:// URL, not {url!r}")
    if options.get("signed-url"):
        raise usage.UsageError("--push webhook creates subscriptions, which a signed URL does not allow")


def make_push(options: Any, client: Any, reactor: Any) -> Any:
    """
    What C{client.subscriber(push=...)} is given for the checked
    C{options}: C{"websocket"} (the client was connected with the
    C{--websocket-url}), a L{txzaqar.push.WebhookPush}, or C{None}.
    """
    kind = options["push"]
    if kind == "webhook":
        from ..push import WebhookPush

        return WebhookPush(client, options["webhook-url"], reactor, listen=options["webhook-listen"])
    return kind
