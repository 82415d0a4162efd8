"""
A demo handler for C{twistd zaqar-listen}::

    twistd -n zaqar-listen --url "$TXZAQAR_ZAQAR_URL" --project-id demo \\
        --queue demo --handler txzaqar.demo:show

Run the whole demo (a local Zaqar, the daemon, messages) with
C{python -m txzaqar.demo}, the README's first command.

Each delivered message is logged as one readable line (and acknowledged
once this returns); a body with C{"posted_at"} (seconds since the epoch,
as the demo posts them) shows how long after its post it was delivered.  With C{"fail": true} in a message body the handler
raises the first time it sees that message, to show a failure being logged
and the message redelivered at once (its claim is released).
"""

from __future__ import annotations

import json
import time
from typing import Any

from twisted.logger import Logger

from .subscriber import on_reactor

#: The demo's logger.
log = Logger(namespace="txzaqar.demo")

_failed_once: set[str] = set()


class DemoFailure(Exception):
    """Raised for messages asking for it, to show redelivery."""


@on_reactor  # it only logs: no need for a thread
def show(message: Any) -> None:
    """Log a delivered message; raise L{DemoFailure} if its body asks to fail."""
    body = message.body
    shown, after = body, ""
    if isinstance(body, dict) and isinstance(body.get("posted_at"), (int, float)):
        shown = {k: v for k, v in body.items() if k != "posted_at"}
        after = f", {1000 * (time.time() - body['posted_at']):.0f} ms after its post"
    log.info(
        "delivered from {queue}: {body} (id {message_id}{after})",
        queue=message.queue.name,
        body=json.dumps(shown, sort_keys=True, default=repr),
        message_id=message.id,
        after=after,
    )
    if isinstance(body, dict) and body.get("fail") and message.id not in _failed_once:
        _failed_once.add(message.id)
        raise DemoFailure(f"message {message.id} asked to fail once")


if __name__ == "__main__":
    import sys

    from txzaqar.daemon._demo_main import main

    sys.exit(main())
