"""
Push notifications from Zaqar as wake-ups for a Subscriber: each source
provides L{txzaqar.interfaces.IWakeSource}.

  - L{WebSocketPush}: Zaqar's WebSocket transport notifications.
  - L{WebhookPush}: Zaqar's notifier POSTs to a C{twisted.web} resource.

Notifications carry no message id, so they only wake a claim; polling
stays on as the safety net.
"""

from .webhook import WebhookPush
from .websocket import WebSocketPush

__all__ = ["WebSocketPush", "WebhookPush"]
