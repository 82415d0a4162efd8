"""
C{txzaqar}'s claim, subscription, pool and flavor commands, parsed as a
user types them and run over the in-memory Zaqar (driven by a Clock).
"""

from __future__ import annotations

import io
import json
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.cli._commands import Context
from txzaqar.cli._output import Output
from txzaqar.test.helpers.cli import CONNECTION, parse
from txzaqar.testing import memory_client


class CommandCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.client, self.fake = memory_client(clock=self.clock)

    def run_command(self, *argv: str) -> tuple[list[Any], Failure | None]:
        """Parse C{argv} as C{txzaqar} does and run it: the JSON lines printed, and its failure (or None)."""
        out = io.StringIO()
        leaf = parse(*CONNECTION, *argv).leaf()
        context = Context(self.client, leaf, Output(out, "json"), io.StringIO(), self.clock, io.StringIO())
        d: Deferred[None] = ensureDeferred(leaf.command.run(context))  # type: ignore[arg-type]
        failure = d.result if isinstance(d.result, Failure) else None
        d.addErrback(lambda f: None)
        return [json.loads(line) for line in out.getvalue().splitlines()], failure

    def ok(self, *argv: str) -> list[Any]:
        printed, failure = self.run_command(*argv)
        if failure is not None:
            failure.raiseException()
        return printed

    def fails(self, error: type[BaseException], *argv: str) -> BaseException:
        printed, failure = self.run_command(*argv)
        self.assertIsNotNone(failure, printed)
        assert failure is not None and failure.value is not None
        self.assertIsInstance(failure.value, error)
        return failure.value

    def post(self, name: str, *bodies: Any) -> list[str]:
        return self.successResultOf(self.client.queue(name).post([{"body": b} for b in bodies]))


class ClaimTests(CommandCase):
    def test_create(self) -> None:
        """The messages claimed, each with the claim's id; --limit, --ttl and --grace go to the server."""
        ids = self.post("jobs", "a", "b", "c")
        claimed = self.ok("claim", "create", "jobs", "--limit", "2", "--ttl", "120", "--grace", "90")
        self.assertEqual([(m["id"], m["body"]) for m in claimed], [(ids[0], "a"), (ids[1], "b")])
        claim_id = claimed[0]["claim_id"]
        self.assertTrue(claim_id)
        self.assertEqual({m["claim_id"] for m in claimed}, {claim_id})
        queried = self.ok("claim", "query", "jobs", claim_id)[0]
        self.assertEqual((queried["ttl"], queried["messages"]), (120, ids[:2]))

    def test_create_nothing(self) -> None:
        """Nothing to claim: nothing printed, no failure."""
        self.successResultOf(self.client.queue("jobs").create())
        self.assertEqual(self.ok("claim", "create", "jobs"), [])

    def test_renew(self) -> None:
        """Renewing starts the claim's age again, with its own ttl unless --ttl."""
        self.post("jobs", "a")
        claim_id = self.ok("claim", "create", "jobs", "--ttl", "100")[0]["claim_id"]
        self.clock.advance(50)
        self.assertGreaterEqual(self.ok("claim", "query", "jobs", claim_id)[0]["age"], 50)
        self.assertEqual(self.ok("claim", "renew", "jobs", claim_id),
                         [{"claim_id": claim_id, "ttl": 100, "grace": 60, "renewed": True}])
        self.assertLess(self.ok("claim", "query", "jobs", claim_id)[0]["age"], 50)
        self.assertEqual(self.ok("claim", "renew", "jobs", claim_id, "--ttl", "300", "--grace", "120")[0]["ttl"], 300)
        self.assertEqual(self.ok("claim", "query", "jobs", claim_id)[0]["ttl"], 300)

    def test_release(self) -> None:
        """Released: the messages can be claimed again at once; the claim is gone."""
        ids = self.post("jobs", "a", "b")
        claim_id = self.ok("claim", "create", "jobs")[0]["claim_id"]
        self.assertEqual(self.ok("claim", "release", "jobs", claim_id),
                         [{"claim_id": claim_id, "released": True, "messages": ids}])
        self.assertEqual([m["body"] for m in self.ok("claim", "create", "jobs")], ["a", "b"])
        self.fails(errors.NotFound, "claim", "query", "jobs", claim_id)
        self.fails(errors.NotFound, "claim", "release", "jobs", claim_id)

    def test_mistakes(self) -> None:
        """A ttl out of range is the client's validation error (exit 64); a missing claim id a usage error."""
        self.post("jobs", "a")
        error = self.fails(errors.ClientValidationError, "claim", "create", "jobs", "--ttl", "5")
        self.assertIn("ttl", str(error))
        self.assertRaises(usage.UsageError, parse, *CONNECTION, "claim", "renew", "jobs")
        self.assertRaises(usage.UsageError, parse, *CONNECTION, "claim", "create", "jobs", "--limit", "x")


class SubscriptionTests(CommandCase):
    def test_create_show_list(self) -> None:
        """Create (--ttl, --options as JSON), show, list: one row each, with every field."""
        self.successResultOf(self.client.queue("jobs").create())
        created = self.ok("subscription", "create", "jobs", "http://example.com/hook", "--ttl", "600",
                          "--options", '{"team": "a"}')[0]
        self.assertEqual((created["subscriber"], created["ttl"], created["options"]),
                         ("http://example.com/hook", 600, {"team": "a"}))
        self.assertEqual(self.ok("subscription", "show", "jobs", created["id"]), [created])
        other = self.ok("subscription", "create", "jobs", "mailto:ops@example.com")[0]
        self.assertEqual(other["ttl"], 3600)
        self.assertEqual(sorted(s["id"] for s in self.ok("subscription", "list", "jobs", "--limit", "1")),
                         sorted([created["id"], other["id"]]))

    def test_update(self) -> None:
        """Update changes what is given and prints the subscription as the server now has it; nothing given: a usage error."""
        self.successResultOf(self.client.queue("jobs").create())
        created = self.ok("subscription", "create", "jobs", "http://example.com/hook")[0]
        updated = self.ok("subscription", "update", "jobs", created["id"], "--ttl", "900",
                          "--options", '{"b": 2}')[0]
        self.assertEqual((updated["id"], updated["subscriber"], updated["ttl"], updated["options"]),
                         (created["id"], "http://example.com/hook", 900, {"b": 2}))
        self.assertEqual(self.ok("subscription", "show", "jobs", created["id"])[0]["ttl"], 900)
        self.fails(usage.UsageError, "subscription", "update", "jobs", created["id"])
        self.fails(errors.ClientValidationError, "subscription", "update", "jobs", created["id"],
                   "--subscriber", "ftp://example.com")

    def test_confirm_and_delete(self) -> None:
        """Confirm, --unconfirm; delete; a deleted one is not found."""
        self.successResultOf(self.client.queue("jobs").create())
        sid = self.ok("subscription", "create", "jobs", "http://example.com/hook")[0]["id"]
        self.assertEqual(self.ok("subscription", "confirm", "jobs", sid), [{"id": sid, "confirmed": True}])
        self.assertIs(self.ok("subscription", "show", "jobs", sid)[0]["confirmed"], True)
        self.assertEqual(self.ok("subscription", "confirm", "jobs", sid, "--unconfirm"),
                         [{"id": sid, "confirmed": False}])
        self.assertIs(self.ok("subscription", "show", "jobs", sid)[0]["confirmed"], False)
        self.assertEqual(self.ok("subscription", "delete", "jobs", sid), [{"id": sid, "deleted": True}])
        self.assertEqual(self.ok("subscription", "list", "jobs"), [])
        self.fails(errors.NotFound, "subscription", "show", "jobs", sid)
        self.fails(errors.NotFound, "subscription", "delete", "jobs", sid)


class PoolParsingTests(SynchronousTestCase):
    """
    The pool and flavor commands as parsed (the in-memory Zaqar has no pools,
    quirk 8: they run against a real pooling Zaqar in test_cli).
    """

    def test_arguments(self) -> None:
        """A pool's weight is an integer, its options JSON; a flavor takes one or more pools."""
        leaf = parse(*CONNECTION, "pool", "create", "p1", "redis://h:6379/1", "10", "--options", '{"a": 1}').leaf()
        self.assertEqual((leaf["name"], leaf["uri"], leaf["weight"], leaf["options"]),
                         ("p1", "redis://h:6379/1", 10, {"a": 1}))
        self.assertRaises(usage.UsageError, parse, *CONNECTION, "pool", "create", "p1", "redis://h", "ten")
        self.assertRaises(usage.UsageError, parse, *CONNECTION, "pool", "update", "p1", "--options", "{oops")
        self.assertEqual(parse(*CONNECTION, "flavor", "create", "f1", "p1", "p2").leaf()["pools"], ["p1", "p2"])
        self.assertRaises(usage.UsageError, parse, *CONNECTION, "flavor", "update", "f1")

    def test_roles(self) -> None:
        """--roles goes with --project-id only (X-Roles of a noauth server), not with Keystone."""
        self.assertEqual(parse(*CONNECTION, "--roles", "admin", "pool", "list")["roles"], "admin")
        password = self.mktemp()
        with open(password, "w") as f:
            f.write("secret\n")
        keystone = ["--os-auth-url", "http://k/v3", "--os-username", "u", "--os-password-file", password,
                    "--os-project-name", "p", "--url", "http://z:8888"]
        parse(*keystone, "pool", "list")
        error = self.assertRaises(usage.UsageError, parse, *keystone, "--roles", "admin", "pool", "list")
        self.assertIn("--roles", str(error))
