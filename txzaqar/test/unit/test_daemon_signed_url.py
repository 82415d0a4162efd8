"""
C{twistd zaqar-listen --signed-url-file}: a consumer with nothing but a
pre-signed URL; bad, expired or unreadable files are one-line UsageErrors.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txzaqar.auth import SignedURLAuth
from txzaqar.daemon import _service as _tap
from txzaqar.subscriber import Subscriber

DOC = {
    "paths": ["/v2/queues/jobs/claims", "/v2/queues/jobs/messages"],
    "methods": ["DELETE", "PATCH", "POST"],
    "project": "p1",
    "expires": "2999-01-01T00:00:00",
    "signature": "cd" * 32,
    "url": "http://127.0.0.1:8888",
}


class SignedURLFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.patch(_tap.os, "environ", {})

    def write(self, content: Any) -> str:
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path

    def parse(self, *args: str) -> _tap.Options:
        options = _tap.Options()
        options.parseOptions(list(args))
        return options

    def assertUsage(self, args: list[str], *fragments: str) -> None:
        e = self.assertRaises(UsageError, self.parse, *args)
        message = str(e)
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        self.assertNotIn("cd" * 32, message)

    def test_only_the_file(self) -> None:
        """URL, project and queue all come from the document."""
        options = self.parse("--signed-url-file", self.write(DOC))
        self.assertEqual(options["url"], "http://127.0.0.1:8888")
        self.assertEqual(options["queues"], ["jobs"])
        self.assertIsNone(options["keystone"])
        self.assertEqual(options["signed-url"]["project"], "p1")

    def test_url_and_queue_given(self) -> None:
        doc = {k: v for k, v in DOC.items() if k != "url"}
        options = self.parse("--signed-url-file", self.write(doc), "--url", "http://zaqar:1", "--queue", "jobs")
        self.assertEqual((options["url"], options["queues"]), ("http://zaqar:1", ["jobs"]))

    def test_keystone_environment_ignored(self) -> None:
        self.patch(_tap.os, "environ", {"OS_AUTH_URL": "http://keystone:5000/v3"})
        options = self.parse("--signed-url-file", self.write(DOC))
        self.assertIsNone(options["keystone"])

    def test_make_service(self) -> None:
        options = self.parse("--signed-url-file", self.write(DOC))
        service = _tap.makeService(options)
        self.assertIsInstance(service.subscriber, Subscriber)
        self.assertEqual(service.subscriber.channels, frozenset({"jobs"}))
        auth: Any = service.client.connection.authenticator
        self.assertIsInstance(auth, SignedURLAuth)
        self.assertEqual(auth.project_id, "p1")

    def test_refusals(self) -> None:
        good = self.write(DOC)
        cases: list[tuple[Any, ...]] = [
            (["--signed-url-file", self.mktemp()], "cannot read", "No such file"),
            (["--signed-url-file", self.write("{nope")], "is not JSON"),
            (["--signed-url-file", self.write(dict(DOC, signature=""))], "signature"),
            (["--signed-url-file", self.write(dict(DOC, expires="2000-01-01T00:00:00"))], "expired at 2000-01-01"),
            (["--signed-url-file", self.write(dict(DOC, methods=["GET"]))], "does not allow POST", "claims"),
            (["--signed-url-file", self.write(dict(DOC, methods=["POST", "DELETE"]))], "does not allow PATCH"),
            (["--signed-url-file", self.write(dict(DOC, paths=["/v2/queues/jobs/messages"]))],
             "does not allow POST /v2/queues/jobs/claims"),
            (["--signed-url-file", good, "--queue", "other"], "/v2/queues/other/"),
            (["--signed-url-file", good, "--project-id", "p"], "drop --project-id"),
            (["--signed-url-file", good, "--os-auth-url", "http://k"], "drop --os-auth-url"),
            (["--signed-url-file", good, "--dead-letter-queue", "dead", "--max-claim-count", "3"],
             "cannot configure a queue"),
            (["--signed-url-file", self.write({k: v for k, v in DOC.items() if k != "url"})], "--url is required"),
            (["--signed-url-file", self.write(dict(DOC, paths=["/v2/queues/a/messages", "/v2/queues/b/claims"]))],
             "no single queue"),
        ]
        for args, *fragments in cases:
            self.assertUsage(args, *fragments)
