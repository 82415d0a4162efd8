"""
L{txzaqar._connect}: L{txzaqar.connect} picks the authenticator and builds
the connection and the client; L{make_subscriber} and L{websocket_push}
give a client's Subscriber its push source.  (Each argument's checks are
in C{test_connect_arguments}.)
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

import txzaqar
from txzaqar import errors
from txzaqar._connect import make_subscriber, websocket_push
from txzaqar.auth import NoAuth, Token
from txzaqar.push import WebSocketPush
from txzaqar.subscriber import Subscriber
from txzaqar.testing import memory_client

URL = "http://127.0.0.1:8888"


class ConnectCompositionTests(SynchronousTestCase):
    def test_project_id_is_noauth(self) -> None:
        """A URL and a project, nothing else: L{NoAuth} for that project, on that URL."""
        client = txzaqar.connect(URL, project_id="demo", reactor=MemoryReactorClock())
        self.addCleanup(lambda: self.successResultOf(client.close()))
        self.assertIsInstance(client.connection.authenticator, NoAuth)
        headers = self.successResultOf(client.connection.authenticator.headers())
        self.assertEqual({k.lower(): v for k, v in headers.items()}["x-project-id"], "demo")
        self.assertEqual(client.connection.url, URL)

    def test_authenticator_given_is_used(self) -> None:
        token = Token("a-token", project_id="demo")
        client = txzaqar.connect(URL, authenticator=token, reactor=MemoryReactorClock())
        self.addCleanup(lambda: self.successResultOf(client.close()))
        self.assertIs(client.connection.authenticator, token)


class MakeSubscriberTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.client, self.fake = memory_client()

    def test_no_push(self) -> None:
        subscriber = make_subscriber(self.client, poll_interval=2)
        self.assertIsInstance(subscriber, Subscriber)
        self.assertIsNone(subscriber.push)
        self.assertEqual(subscriber.poll_interval, 2)

    def test_unknown_push_refused(self) -> None:
        e = self.assertRaises(errors.ClientValidationError, make_subscriber, self.client, push="webhook")
        self.assertEqual(e.field, "push")

    def test_websocket_push_with_a_url(self) -> None:
        subscriber = make_subscriber(self.client, push="websocket", websocket_url="ws://127.0.0.1:9000")
        self.assertIsInstance(subscriber.push, WebSocketPush)

    def test_websocket_without_url_or_catalog_refused(self) -> None:
        """With L{NoAuth} there is no catalog to find the WebSocket URL in."""
        e = self.assertRaises(errors.ClientValidationError, websocket_push, self.client)
        self.assertEqual(e.field, "websocket_url")
