"""
Each implementation against its interface in L{txzaqar.interfaces}: it
declares and provides it (C{verifyClass}), and every method the interface
names has the same parameters, in the same order, with the same defaults.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.interface import Method
from zope.interface.verify import verifyClass

from txzaqar import interfaces as i
from txzaqar.api._paging import Listing
from txzaqar.api.admin import Flavor, Pool
from txzaqar.api.claim import Claim
from txzaqar.api.client import Client
from txzaqar.api.message import Message
from txzaqar.api.queue import Metadata, Queue
from txzaqar.api.subscription import Subscription
from txzaqar.auth import Keystone, NoAuth, SignedURLAuth, Token
from txzaqar.http.connection import Connection
from txzaqar.ops.metrics import SubscriberMetrics
from txzaqar.push import WebhookPush, WebSocketPush
from txzaqar.subscriber import Subscriber
from txzaqar.test.helpers.interfaces import implementation_parameters, interface_parameters
from txzaqar.testing.memory.push import MemoryPush

PAIRS: list[tuple[Any, type]] = [
    (i.IAuthenticator, NoAuth),
    (i.IAuthenticator, Token),
    (i.IAuthenticator, Keystone),
    (i.IAuthenticator, SignedURLAuth),
    (i.ITokenExpiry, Keystone),
    (i.IListing, Listing),
    (i.IConnection, Connection),
    (i.IClient, Client),
    (i.IMetadata, Metadata),
    (i.IQueue, Queue),
    (i.IMessage, Message),
    (i.IClaim, Claim),
    (i.ISubscription, Subscription),
    (i.IPool, Pool),
    (i.IFlavor, Flavor),
    (i.ISubscriber, Subscriber),
    (i.IWakeTarget, Subscriber),
    (i.IWakeSource, WebSocketPush),
    (i.IWakeSource, WebhookPush),
    (i.IWakeSource, MemoryPush),
    (i.ISubscriberObserver, SubscriberMetrics),
    (i.ISubscriberMetrics, SubscriberMetrics),
    (i.IRequestObserver, SubscriberMetrics),
]




class InterfaceTests(SynchronousTestCase):
    def test_declared_and_complete(self) -> None:
        for iface, cls in PAIRS:
            self.assertTrue(iface.implementedBy(cls))
            verifyClass(iface, cls)

    def test_signatures_agree(self) -> None:
        """Parameter names, order and defaults match, method by method."""
        differ = []
        for iface, cls in PAIRS:
            for name, description in iface.namesAndDescriptions(all=True):
                if not isinstance(description, Method):
                    continue
                declared = interface_parameters(description)
                implemented = implementation_parameters(getattr(cls, name))
                if declared != implemented:
                    differ.append(f"{cls.__name__}.{name}: {iface.__name__} {declared} != {implemented}")
        self.assertEqual(differ, [], "\n".join(differ))

    def test_every_interface_has_an_implementation(self) -> None:
        declared = {  # the package's interfaces, defined in its modules
            getattr(i, n) for n in dir(i)
            if n.startswith("I") and n[1:2].isupper() and getattr(i, n).__module__.startswith(i.__name__ + ".")
        }
        self.assertEqual(declared, {iface for iface, _ in PAIRS})
