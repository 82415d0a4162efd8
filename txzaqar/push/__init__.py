"""
Push notifications from Zaqar as wake-ups for a Subscriber (each source
provides L{txzaqar.interfaces.IWakeSource}):

  - L{WebhookPush}: Zaqar's notifier POSTs to a C{twisted.web} resource.

Notifications carry no message id, so they only wake a claim; polling
stays on as the safety net.
"""

from .webhook import WebhookPush

__all__ = ["WebhookPush"]
