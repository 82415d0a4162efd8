"""
Every zope interface of txzaqar, in one place.

Methods that touch the network return a L{twisted.internet.defer.Deferred}; their docstrings say
what it fires with and which L{txzaqar.errors.ZaqarError} it may fail with.
Every network method can also fail with L{txzaqar.errors.ConnectionFailed},
L{txzaqar.errors.RequestTimedOut} and L{txzaqar.errors.MalformedResponse}.
"""

from ._client import IClaim, IClient, IFlavor, IListing, IMessage, IMetadata, IPool, IQueue, ISubscription
from ._connection import IAuthenticator, IConnection, IRequestObserver, ITokenExpiry
from ._subscriber import ISubscriber, ISubscriberMetrics, ISubscriberObserver, IWakeSource, IWakeTarget

__all__ = [
    "IAuthenticator",
    "IClaim",
    "IClient",
    "IConnection",
    "IFlavor",
    "IListing",
    "IMessage",
    "IMetadata",
    "IPool",
    "IQueue",
    "IRequestObserver",
    "ISubscriber",
    "ISubscriberMetrics",
    "ISubscriberObserver",
    "ISubscription",
    "ITokenExpiry",
    "IWakeSource",
    "IWakeTarget",
]
