"""
Push notifications from Zaqar as wake-ups for a Subscriber: each source
provides L{txzaqar.interfaces.IWakeSource}.

  - L{WebSocketPush}: Zaqar's WebSocket transport notifications.
"""

from .websocket import WebSocketPush

__all__ = ["WebSocketPush"]
