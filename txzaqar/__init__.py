"""
txzaqar: the Twisted client for OpenStack Zaqar::

    client = txzaqar.connect("http://127.0.0.1:8888", project_id="demo")
    queue = await client.create_queue("wot")
"""

from types import ModuleType

from . import _moved
from ._connect import connect
from ._version import __version__ as __version__
from .api.claim import Claim
from .api.client import Client
from .api.message import Message, MessageStatus
from .api.queue import Metadata, PartialPostError, Queue, QueueStats, SignedURL
from .api.subscription import Subscription
from .auth import Keystone, NoAuth, SignedURLAuth, Token
from .errors import ClientValidationError, NotAllowedBySignedURL, SignedURLExpired, ZaqarError
from .http.connection import Connection
from .ops import metrics as _metrics  # noqa: F401 (registers the metrics a Subscriber makes Subscriber.metrics)

_moved.install()


def __getattr__(name: str) -> ModuleType:
    """C{txzaqar.queue} and the other old module paths, as attributes (deprecated: see L{_moved})."""
    return _moved.attribute(__name__, name)


__all__ = [
    "Claim",
    "Client",
    "ClientValidationError",
    "Connection",
    "Keystone",
    "Message",
    "MessageStatus",
    "Metadata",
    "NoAuth",
    "NotAllowedBySignedURL",
    "PartialPostError",
    "Queue",
    "QueueStats",
    "SignedURL",
    "SignedURLAuth",
    "SignedURLExpired",
    "Subscription",
    "Token",
    "ZaqarError",
    "connect",
]
