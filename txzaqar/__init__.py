"""
txzaqar: the Twisted client for OpenStack Zaqar::

    client = txzaqar.connect("http://127.0.0.1:8888", project_id="demo")
    queue = await client.create_queue("wot")
"""

from ._version import __version__ as __version__
from .auth import Keystone, NoAuth, SignedURLAuth, Token
from .claim import Claim
from .client import Client
from .compose import connect
from .connection import Connection
from .errors import ClientValidationError, NotAllowedBySignedURL, SignedURLExpired, ZaqarError
from .message import Message, MessageStatus
from .queue import Metadata, PartialPostError, Queue, QueueStats, SignedURL
from .subscription import Subscription

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
