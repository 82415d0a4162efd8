"""
Each implementation against its interface in L{txzaqar.interfaces}: it
declares and provides it (C{verifyClass}), and every method the interface
names has the same parameters, in the same order, with the same defaults.
The interface's docstring is the contract's one home: an implementation's
docstring only adds a note, and does not restate it.
"""

from __future__ import annotations

import difflib
import inspect
import re
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

#: How alike (C{difflib} ratio) an implementation's docstring and its
#: interface's may be: today's notes are at most 0.43 alike, a restated
#: docstring 0.7 or more.
NEAR_COPY = 0.6


def _text(docstring: str) -> str:
    """A docstring as one line of single-spaced words."""
    return " ".join(inspect.cleandoc(docstring).split())


def first_sentence(docstring: str) -> str:
    """The first sentence of a docstring's first paragraph, single-spaced."""
    paragraph = inspect.cleandoc(docstring).split("\n\n")[0]
    return re.split(r"(?<=[.!?])\s", " ".join(paragraph.split()), maxsplit=1)[0]


def restated(implementation: str, interface: str) -> bool:
    """Whether an implementation's docstring restates its interface's rather than adding a note."""
    if first_sentence(implementation) == first_sentence(interface):
        return True
    return difflib.SequenceMatcher(None, _text(implementation), _text(interface)).ratio() >= NEAR_COPY


def restating_methods(pairs: list[tuple[Any, type]]) -> list[str]:
    """
    The methods of the classes in C{pairs} (and their bases) whose docstring
    restates the one their interface declares.
    """
    found = []
    for iface, cls in pairs:
        for name, description in iface.namesAndDescriptions(all=True):
            if not isinstance(description, Method) or not description.getDoc():
                continue
            for klass in cls.__mro__:
                method = klass.__dict__.get(name)
                doc = getattr(getattr(method, "__func__", method), "__doc__", None)
                if method is not None and doc and restated(doc, description.getDoc()):
                    found.append(f"{klass.__module__}.{klass.__qualname__}.{name} ({iface.__name__})")
    return sorted(set(found))




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


class DocstringTests(SynchronousTestCase):
    """
    pydoctor shows an interface method's docstring on an implementation
    method that has none, so the contract is written once, on the interface.
    """

    def test_implementations_do_not_restate(self) -> None:
        restating = restating_methods(PAIRS)
        self.assertEqual(restating, [], "\n".join(restating))

    def test_restated_detected(self) -> None:
        """A copy, a near-copy and a same first sentence are restatements; a note is not."""
        contract = """
        Cancel requests in flight and close pooled connections.

        @param timeout: seconds to wait for pooled connections to close.
        @return: a Deferred firing with C{None} when done.
        """
        self.assertTrue(restated(contract, contract))
        self.assertTrue(restated(contract.replace("pooled", "cached"), contract))
        self.assertTrue(restated("Cancel requests in flight and close pooled connections.  Quickly.", contract))
        self.assertFalse(restated("Stops the thread pool, without waiting for a call in it.", contract))

    def test_first_sentence(self) -> None:
        self.assertEqual(first_sentence("One thing.  Another."), "One thing.")
        self.assertEqual(first_sentence("\n  Begin (connect); then\n  more.\n\n  Body."), "Begin (connect); then more.")
        self.assertEqual(first_sentence("@return: a Deferred.\n@raise E: bad."), "@return: a Deferred.")
