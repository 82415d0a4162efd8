"""
The README's Python blocks and its Quick start command, run against a real
Zaqar (L{txzaqar.testing.shared_zaqar}).

How a block runs: its text is taken from the README
(L{txzaqar.test.readme.find_block}) with one edit, the placeholder URL
C{http://127.0.0.1:8888} replaced by the real server's (the
authentication block also gets C{/etc/ssl/our-ca.pem} replaced by a real
PEM CA); nothing else of the text changes.  A block with top-level
C{await} is compiled with C{ast.PyCF_ALLOW_TOP_LEVEL_AWAIT} and awaited;
line numbers in tracebacks are the README's.  The names a block uses but
does not define come from a namespace per block, documented on each test,
and C{print} is always one that keeps the lines (L{Printed}), so what a
block prints is checked against the comment the README shows beside it.

The blocks use the project C{demo}: on the shared server that project is
the README's own, and each test deletes its queues first (the tour prints
every queue of it).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from twisted.application.service import MultiService
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

import txzaqar
from txzaqar import errors
from txzaqar.auth import Keystone, NoAuth
from txzaqar.test import readme
from txzaqar.test.helpers.readme_code import (
    PLACEHOLDER,
    PROJECT,
    Printed,
    ReadmeTestCase,
    block_source,
    comment_of,
    run_block,
)
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing import shared_zaqar
from txzaqar.testing.servers.pki import make_test_pki


class InstallExampleTests(ReadmeTestCase):
    """
    The Install section's example, a whole program (it calls C{react}),
    run as C{python -c TEXT} with the server's URL.
    """

    async def check(self) -> None:
        block = readme.find_block("Install", "from twisted.internet.task import react")
        source = block.text.replace(PLACEHOLDER, self.url)
        out, err, code = await getProcessOutputAndValue(
            sys.executable, ["-c", source], env=dict(os.environ), reactor=reactor)
        output = (out + err).decode("utf-8", "replace")
        self.assertEqual(code, 0, output)
        self.assertEqual(out.decode().splitlines(), [comment_of(block, "print(message.body)")], output)
        stats = await self.client.queue("hello").stats()
        self.assertEqual(stats.total, 0)

    def test_install_example(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())


class TourTests(ReadmeTestCase):
    """
    The tour: the block defines C{tour(reactor)}, which this test calls.
    Namespace: C{print} only.
    """

    async def check(self) -> None:
        block = readme.find_block("A tour of the API", "import txzaqar")
        printed = Printed()
        namespace: dict[str, Any] = {"__name__": "readme_tour", "print": printed}
        await run_block(block, namespace, self.url)
        await namespace["tour"](reactor)
        lines = printed.lines
        # every queue of the project: the comment's list, after "all pages: "
        self.assertEqual(lines[0], comment_of(block, "print(await client.queues())").rsplit(": ", 1)[1])
        claimed = lines[1:11]
        self.assertEqual(len(claimed), 10, lines)
        status = comment_of(block, "print(message.body, message.status)")
        self.assertEqual(claimed[0], "{'event': 'winning', 'score': 10} " + status)
        self.assertEqual(claimed[1:], [f"{i} {status}" for i in range(9)])
        # the metadata (reserved keys with Zaqar's defaults) and the default message ttl
        self.assertTrue(lines[11].startswith("{") and lines[11].endswith("} 3600"), lines[11])
        expected = comment_of(block, "print(await queue.stats())")
        self.assertTrue(expected.endswith(", ...)"), expected)
        self.assertTrue(lines[12].startswith(expected[:-len("...)")]), (lines[12], expected))
        self.assertEqual(len(lines), 13, lines)
        self.assertNotIn("wot", [q.name for q in await self.client.queues()])

    def test_tour(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())


class ErrorsTests(ReadmeTestCase):
    """
    The errors block (top-level C{await}).  Namespace: C{client} (a client
    of the project), C{queue} (a queue of it that exists), C{errors}
    (L{txzaqar.errors}) and C{print}.
    """

    async def check(self) -> None:
        block = readme.find_block("A tour of the API", "try:")
        printed = Printed()
        queue = await self.client.create_queue("readme-errors")
        namespace = {"client": self.client, "queue": queue, "errors": errors, "print": printed}
        await run_block(block, namespace, self.url)
        self.assertEqual(len(printed.lines), 2, printed.lines)
        # e.code, e.title, e.description, e.request_id: what Zaqar answered
        self.assertRegex(printed.lines[0], r"^404 Not found .*no-such-id.* req-[0-9a-f-]+$")
        # e.field, e: "ErrorName (code): title - description"
        self.assertRegex(printed.lines[1],
                         r"^queue name ClientValidationError: Invalid queue name - 'not a valid name'")

    def test_errors(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())


class SubscriberTests(ReadmeTestCase):
    """The Subscriber section's two blocks."""

    async def callbacks(self) -> None:
        """
        Namespace: C{client} (of the project), C{ship} (an async function
        recording each order), C{application} (a running C{MultiService},
        so C{setServiceParent} starts the subscriber) and C{print}.  Then
        an order posted to C{orders} is shipped and its message deleted.
        """
        block = readme.find_block("The Subscriber", "async def handle(message):")
        printed = Printed()
        shipped: list[Any] = []

        async def ship(order: Any) -> None:
            shipped.append(order)

        application = MultiService()
        application.startService()
        client = txzaqar.connect(self.url, project_id=PROJECT, reactor=reactor)
        namespace: dict[str, Any] = {"client": client, "ship": ship, "application": application,
                                     "print": printed}
        stopped = False
        try:
            await run_block(block, namespace, self.url)
            subscriber = namespace["subscriber"]
            self.assertEqual(len(printed.lines), 1, printed.lines)
            # a frozenset's order is the hash's: compare the values
            comment = comment_of(block, "print(subscriber.channels)")
            self.assertEqual(eval(printed.lines[0], {"frozenset": frozenset}),
                             eval(comment, {"frozenset": frozenset}))
            self.assertEqual(subscriber.channels, frozenset({"orders"}))
            await self.client.queue("orders").post({"body": {"order": 42}})
            await wait_until(lambda: shipped == [42], "the order to be shipped")
            await application.stopService()
            stopped = True
            self.assertEqual((await self.client.queue("orders").stats()).total, 0)
        finally:
            if not stopped:
                await application.stopService()
            await client.close()

    def test_callbacks(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.callbacks())

    async def listen(self) -> None:
        """
        Namespace: C{subscriber} (a running one on a client of the
        project), C{handle} (an async function recording each body),
        C{contextlib} (the block does not import it) and C{print}.  The
        block iterates until the subscriber stops, which this test does
        once both messages posted were handled; both are then deleted.
        """
        block = readme.find_block("The Subscriber", 'subscriber.subscribe("jobs")')
        handled: list[Any] = []

        async def handle(message: Any) -> None:
            handled.append(message.body)

        client = txzaqar.connect(self.url, project_id=PROJECT, reactor=reactor)
        subscriber = client.subscriber(poll_interval=0.2, max_interval=1)
        subscriber.startService()
        namespace = {"subscriber": subscriber, "handle": handle, "contextlib": contextlib,
                     "print": Printed()}
        running = Deferred.fromCoroutine(run_block(block, namespace, self.url))
        try:
            await self.client.queue("jobs").post([{"body": {"job": 1}}, {"body": {"job": 2}}])
            await wait_until(lambda: len(handled) == 2, "both jobs handled")
        finally:
            await subscriber.stopService()
            await client.close()
        await running  # iteration ends when the subscriber stops
        self.assertEqual(sorted(b["job"] for b in handled), [1, 2])
        self.assertEqual((await self.client.queue("jobs").stats()).total, 0)

    def test_listen(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.listen())


class _RecordingModule:
    """
    C{txzaqar} as the authentication block sees it: the module, but with
    C{connect} keeping each client it made, so the test can look at them
    and close them all.
    """

    def __init__(self) -> None:
        self.clients: list[txzaqar.Client] = []

    def connect(self, *args: Any, **kwargs: Any) -> txzaqar.Client:
        client = txzaqar.connect(*args, **kwargs)
        self.clients.append(client)
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(txzaqar, name)


CLOUDS_YAML = """\
clouds:
  mycloud:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: worker
      password: not-a-real-password
      project_name: orders
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
"""


class AuthenticationTests(ReadmeTestCase):
    """
    The authentication block, construction only: making a client calls no
    Keystone (the Keystone URLs are never reached).  Namespace: C{txzaqar}
    (L{_RecordingModule}), C{password}, C{session} (a keystoneauth1
    C{Session}) and C{print}; C{$OS_CLIENT_CONFIG_FILE} names a clouds.yaml
    with C{mycloud}, C{OS_*} variables are set for C{from_environment};
    C{/etc/ssl/our-ca.pem} is a real PEM CA.  The no-auth client then
    talks to the real server.
    """

    def setUp(self) -> Deferred[None]:  # type: ignore[override]  # trial waits for it
        d = super().setUp()
        work = Path(tempfile.mkdtemp(prefix="readme-auth-"))
        (work / "clouds.yaml").write_text(CLOUDS_YAML)
        self.ca = make_test_pki(work / "pki").ca_cert
        environment = {
            "OS_CLIENT_CONFIG_FILE": str(work / "clouds.yaml"),
            "OS_AUTH_URL": "https://keystone.example:5000/v3",
            "OS_USERNAME": "worker",
            "OS_PASSWORD": "not-a-real-password",
            "OS_PROJECT_NAME": "orders",
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
        }
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)

        def restore() -> None:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

        self.addCleanup(restore)
        return d

    async def check(self) -> None:
        from keystoneauth1 import loading
        from keystoneauth1.session import Session

        block = readme.find_block("Authentication and TLS", "# no authentication")
        plugin: Any = loading.get_plugin_loader("password").load_from_options(
            auth_url="https://keystone.example:5000/v3", username="worker",
            password="not-a-real-password", project_name="orders",
            user_domain_id="default", project_domain_id="default")
        module = _RecordingModule()
        namespace = {"txzaqar": module, "password": "not-a-real-password",
                     "session": Session(auth=plugin), "print": Printed()}
        try:
            await run_block(block, namespace, self.url, {"/etc/ssl/our-ca.pem": str(self.ca)})
            clients = module.clients
            self.assertEqual(len(clients), 5)
            kinds = [type(c.connection.authenticator) for c in clients]
            self.assertEqual(kinds, [NoAuth] + [Keystone] * 4)
            self.assertEqual(clients[0].connection.url, self.url)
            self.assertEqual([c.connection.url for c in clients[1:]], [None] * 4,
                             "Zaqar's URL comes from the catalog, later")
            await clients[0].queues()
        finally:
            for client in module.clients:
                await client.close()

    def test_authentication(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())


def _readme_integration_tests() -> type[unittest.TestCase]:
    """The C{IntegrationTests} class the "Against a real Zaqar" block defines."""
    block = readme.find_block("Against a real Zaqar", "from twisted.internet import reactor")
    namespace: dict[str, Any] = {"__name__": __name__}
    exec(compile(block_source(block, PLACEHOLDER), "README.rst", "exec"), namespace)
    cls = namespace["IntegrationTests"]
    assert issubclass(cls, unittest.TestCase), cls
    return cls


class AgainstRealZaqarTests(_readme_integration_tests()):  # type: ignore[misc]
    """
    The README's C{IntegrationTests} as written (its C{setUp} and cleanup),
    with a test: its client reaches the shared Zaqar.
    """

    async def check(self) -> None:
        self.assertIs(self.zaqar, shared_zaqar())
        queue = await self.client.create_queue(f"readme-{uuid.uuid4().hex[:8]}")
        await queue.post({"body": "hello"})
        self.assertEqual((await queue.stats()).total, 1)
        await queue.delete()

    def test_client(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.check())
