"""
An in-memory Zaqar v2 server for tests, kept in layers the way txkube
keeps its memory Kubernetes:

  - L{model}: projects, queues, messages, claims, subscriptions and their
    expiry on an injected clock; no HTTP.  L{records}: what it stores and
    returns, and its refusals.
  - L{checks}: Zaqar's server-side limits and validation, as tables.
  - L{wire}: request parsing, header checks, error responses, JSON documents.
  - L{signing}: pre-signed URLs.  L{encryption}: encrypted queues' stand-in ciphertext.
  - L{routes} (with L{queue_handlers}, L{message_handlers},
    L{subscription_handlers}): the route table and its handlers.
  - L{resource}: L{MemoryZaqar}, the C{twisted.web} resource composing them.
  - L{clients}: L{memory_client} and L{memory_subscriber}, ready-made on it.
  - L{push}: L{MemoryPush}, its push notifications (C{fake.push()}).

Importing it imports no real-server code.
"""

from .clients import MEMORY_URL, MemoryAgent, memory_client, memory_subscriber
from .push import MemoryPush
from .resource import MemoryZaqar

__all__ = ["MEMORY_URL", "MemoryAgent", "MemoryPush", "MemoryZaqar", "memory_client", "memory_subscriber"]
