"""
Issue 18, names and bodies as Zaqar documents them: the client-side rules
of L{txzaqar._support.validation} and the resources that apply them, against the
in-memory Zaqar.  A bad argument raises L{ClientValidationError} at call
time, sends nothing, and is never a failed Deferred; what is allowed is
not over-refused.  (A resource's own checks are in the test module named
after it: C{test_api_queue}, C{test_api_subscription}, C{test_api_claim}, ...)
"""

from __future__ import annotations

import datetime
import inspect
import math
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from txzaqar._support import validation as v
from txzaqar.api.admin import Flavor, Pool
from txzaqar.api.claim import Claim
from txzaqar.api.client import Client
from txzaqar.api.message import Message
from txzaqar.api.queue import Metadata, Queue
from txzaqar.api.subscription import Subscription
from txzaqar.errors import ClientValidationError
from txzaqar.interfaces import IConnection
from txzaqar.test.helpers.recording import BodyRecorder, Recorded
from txzaqar.testing import memory_client

#: Every kind of surrogate code point a C{str} may hold: lone high, lone
#: low, and a pair (two code points in Python, not one character).
SURROGATES = ("\ud800", "\udfff", "a\udc00b", "\ud83d\ude00")


class ShareExpiresTests(SynchronousTestCase):
    """C{share(expires=...)}: an aware datetime is sent in UTC; a naive one is refused."""

    def setUp(self) -> None:
        client, self.fake = memory_client()
        self.recorder = BodyRecorder(client.connection)
        self.queue = Queue(cast(IConnection, self.recorder), "q")

    def test_naive_refused(self) -> None:
        naive = datetime.datetime.now() + datetime.timedelta(hours=1)
        e = self.assertRaises(ClientValidationError, self.queue.share, expires=naive)
        self.assertEqual(e.field, "expires")
        self.assertIn("naive", e.description)
        self.assertEqual(self.recorder.calls, [])

    def test_aware_sent_in_utc(self) -> None:
        tokyo = datetime.timezone(datetime.timedelta(hours=9))
        expires = datetime.datetime(2099, 1, 2, 12, 30, tzinfo=tokyo)
        self.successResultOf(self.queue.share(expires=expires))
        [(method, _, body)] = self.recorder.calls
        self.assertEqual((method, body["expires"]), ("POST", "2099-01-02T03:30:00"))


class SurrogateTests(Recorded):
    """
    A lone surrogate anywhere in a JSON body is refused before sending:
    Zaqar answers 503 "try again" to it, for ever.
    """

    def test_refused_everywhere(self) -> None:
        queue = self.client.queue("q")
        self.successResultOf(queue.create())
        subscription = self.successResultOf(queue.subscribe("http://example.com/hook"))
        for bad in SURROGATES:
            self.assertRefused(queue.post, "message 0", {"body": bad})
            self.assertRefused(queue.post, "message 1", [{"body": 1}, {"body": {"k": [bad]}}])
            self.assertRefused(queue.post, "message 0", {"body": {bad: 1}})
            self.assertRefused(self.client.create_queue, "metadata", "q2", {"k": bad})
            self.assertRefused(self.client.create_queue, "metadata", "q2", {bad: 1})
            self.assertRefused(queue.update_metadata, "metadata", {"k": bad})
            self.assertRefused(queue.set_metadata, "metadata", {"k": bad})
            self.assertRefused(queue.patch_metadata, "operations", [{"op": "add", "path": "/metadata/k", "value": bad}])
            self.assertRefused(queue.subscribe, "options", "http://example.com/h", options={"k": bad})
            self.assertRefused(queue.subscribe, "subscriber", "http://example.com/" + bad)
            self.assertRefused(subscription.update, "options", options={"k": bad})
            self.assertRefused(self.client.create_pool, "pool", "p", "redis://x/" + bad, 1)
            self.assertRefused(self.client.create_pool, "pool", "p", "redis://x", 1, options={"k": bad})
            self.assertRefused(self.client.create_flavor, "capabilities", "f", ["p"], capabilities={"k": bad})

    def test_connection_refuses_too(self) -> None:
        """A body the connection encodes itself is held to the same rule (a failed Deferred: nothing sent)."""
        for bad in SURROGATES:
            d = self.client.connection.post("queues/q/messages", body={"messages": [{"body": bad}]})
            self.failureResultOf(d, ClientValidationError)
        self.assertEqual(self.recorder.requests, [])

    def test_real_characters_pass(self) -> None:
        """Text beyond the BMP (one character, not two surrogates) and other non-ASCII text is fine."""
        queue = self.client.queue("q")
        bodies = ["\U0001f600", {"cl\u00e9": "\u65e5\u672c"}, "\ufffd"]
        ids = self.successResultOf(queue.post([{"body": b} for b in bodies]))
        got = self.successResultOf(queue.get_messages(ids))
        self.assertEqual(sorted(map(repr, (m.body for m in got))), sorted(map(repr, bodies)))
        self.successResultOf(queue.update_metadata({"\u00e9t\u00e9": "\U0001f600"}))


#: A call with a bad argument for every public method returning a Deferred,
#: by "Class.method"; each takes the objects of L{CallTimeTests.objects}.
BAD_CALLS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Client.create_queue": lambda o: o["client"].create_queue("ok", [1]),
    "Client.queues": lambda o: o["client"].queues(limit=0),
    "Client.queue_details": lambda o: o["client"].queue_details(max_items=0),
    "Client.create_pool": lambda o: o["client"].create_pool("p", "redis://x", -1),
    "Client.pools": lambda o: o["client"].pools(limit=21),
    "Client.create_flavor": lambda o: o["client"].create_flavor("f", []),
    "Client.flavors": lambda o: o["client"].flavors(limit="3"),
    "Client.ping": lambda o: o["client"].ping(head="yes"),
    "Queue.create": lambda o: o["queue"].create([1]),
    "Queue.patch_metadata": lambda o: o["queue"].patch_metadata([1]),
    "Queue.update_metadata": lambda o: o["queue"].update_metadata({"k": {1}}),
    "Queue.set_metadata": lambda o: o["queue"].set_metadata(None),
    "Queue.configure": lambda o: o["queue"].configure(nope=1),
    "Queue.purge": lambda o: o["queue"].purge(["claims"]),
    "Queue.share": lambda o: o["queue"].share(expires=5),
    "Queue.post": lambda o: o["queue"].post([]),
    "Queue.messages": lambda o: o["queue"].messages(echo="no"),
    "Queue.message": lambda o: o["queue"].message(""),
    "Queue.get_messages": lambda o: o["queue"].get_messages("abc"),
    "Queue.delete_message": lambda o: o["queue"].delete_message("a/b"),
    "Queue.delete_messages": lambda o: o["queue"].delete_messages([""]),
    "Queue.pop": lambda o: o["queue"].pop(21),
    "Queue.claim": lambda o: o["queue"].claim(ttl=59),
    "Queue.get_claim": lambda o: o["queue"].get_claim("a b"),
    "Queue.subscribe": lambda o: o["queue"].subscribe("ftp://x"),
    "Queue.subscriptions": lambda o: o["queue"].subscriptions(limit=0),
    "Queue.subscription": lambda o: o["queue"].subscription("a/b"),
    "Claim.patch": lambda o: o["claim"].patch(ttl=43201),
    "Claim.renew": lambda o: o["claim"].renew(grace=0),
    "Subscription.update": lambda o: o["subscription"].update(),
    "Subscription.confirm": lambda o: o["subscription"].confirm("yes"),
    "Metadata.update": lambda o: o["metadata"].update([1]),
    "Pool.create": lambda o: o["pool"].create("", 1),
    "Pool.get": lambda o: o["pool"].get(detailed="x"),
    "Pool.update": lambda o: o["pool"].update(),
    "Flavor.create": lambda o: o["flavor"].create(None),
    "Flavor.get": lambda o: o["flavor"].get(detailed="x"),
    "Flavor.update": lambda o: o["flavor"].update(["a b"]),
}

#: Public Deferred-returning methods with no argument to get wrong.
NO_ARGUMENTS = {
    "Client.queue_count", "Client.home", "Client.versions", "Client.health", "Client.close",
    "Queue.delete", "Queue.metadata", "Queue.stats",
    "Claim.release", "Claim.delete", "Claim.reload",
    "Message.delete", "Message.reload",
    "Subscription.delete", "Subscription.reload",
    "Metadata.reload",
    "Pool.delete", "Flavor.delete",
}


class CallTimeTests(SynchronousTestCase):
    """
    The rule of the project (L{txzaqar._support.validation}): argument errors are
    raised at call time, synchronously, before anything is sent.
    """

    def setUp(self) -> None:
        self.client, _ = memory_client(roles=["admin"])
        self.recorder = BodyRecorder(self.client.connection)
        connection = cast(IConnection, self.recorder)
        client = Client(connection)
        queue = Queue(connection, "q")
        self.objects: dict[str, Any] = {
            "client": client, "queue": queue, "claim": Claim(queue, "c1"),
            "message": Message(queue, "m1", None), "subscription": Subscription(queue, "s1"),
            "metadata": Metadata(queue, {}), "pool": Pool(connection, "p"), "flavor": Flavor(connection, "f"),
        }

    def public_deferred_methods(self) -> set[str]:
        """Every public method of the resources whose return annotation is a Deferred."""
        found = set()
        for cls in (Client, Queue, Claim, Message, Subscription, Metadata, Pool, Flavor):
            for name, member in inspect.getmembers(cls, inspect.isfunction):
                if name.startswith("_"):
                    continue
                annotation = str(inspect.signature(member).return_annotation)
                if "Deferred" in annotation:
                    found.add(f"{cls.__name__}.{name}")
        return found

    def test_every_method_is_walked(self) -> None:
        """A new Deferred-returning method needs a bad call here (or to take no argument)."""
        found = self.public_deferred_methods()
        self.assertEqual(found - set(BAD_CALLS) - NO_ARGUMENTS, set())
        self.assertEqual((set(BAD_CALLS) | NO_ARGUMENTS) - found, set())

    def test_raised_at_call_time(self) -> None:
        wrong = []
        for name, call in sorted(BAD_CALLS.items()):
            try:
                result = call(self.objects)
            except ClientValidationError:
                pass
            else:
                if isinstance(result, Deferred):
                    result.addErrback(lambda f: None)
                wrong.append(f"{name} returned {result!r}")
        self.assertEqual(wrong, [])
        self.assertEqual(self.recorder.calls, [])


class MetadataSizeTests(Recorded):
    def test_measured_as_sent(self) -> None:
        """
        Metadata is measured in the UTF-8 bytes the connection sends (not
        in ASCII escapes, six bytes for an C{é}), so what fits is not refused.
        """
        content = {"k": "\u00e9" * 30000}  # 60010 bytes as sent; 180010 as ASCII escapes
        self.successResultOf(self.client.create_queue("q", content))
        self.assertEqual(self.fake.metadata("test", "q"), content)
        self.assertRefused(self.client.create_queue, "metadata", "q2", {"k": "\u00e9" * 33000})


class PostSizeMeasureTests(Recorded):
    def test_non_ascii_measured_in_utf8(self) -> None:
        """A message of 100,000 C{é} is 200,010 bytes as sent (not 600,010 of ASCII escapes): it fits."""
        queue = self.client.queue("q")
        [mid] = self.successResultOf(queue.post({"body": "\u00e9" * 100000}))
        self.assertEqual(self.successResultOf(queue.message(mid)).body, "\u00e9" * 100000)
        self.assertRefused(queue.post, "messages", {"body": "\u00e9" * 131100})


class BoundsTests(Recorded):
    """
    Each documented limit, at its edge: the last value allowed is sent,
    the first one past it refused (found by mutation testing: no test held
    most of these edges, so a limit off by one went unseen).
    """

    def assertAccepted(self, d: Deferred[Any]) -> None:
        self.successResultOf(d)

    def test_message_ttl_and_delay(self) -> None:
        queue = self.client.queue("q")
        for ttl in (60, 1209600):
            self.assertAccepted(queue.post({"body": 1, "ttl": ttl}))
        for ttl in (59, 1209601):
            self.assertRefused(queue.post, "message ttl", {"body": 1, "ttl": ttl})
        for delay in (0, 900):
            self.assertAccepted(queue.post({"body": 1, "delay": delay}))
        for delay in (-1, 901):
            self.assertRefused(queue.post, "message delay", {"body": 1, "delay": delay})

    def test_claim_and_pop_counts(self) -> None:
        queue = self.client.queue("q")
        self.assertAccepted(queue.claim(limit=20))
        self.assertAccepted(queue.pop(20))
        self.assertRefused(queue.claim, "limit", limit=21)
        self.assertRefused(queue.pop, "count", 21)

    def test_claim_ttl_and_grace(self) -> None:
        queue = self.client.queue("q")
        for seconds in (60, 43200):
            self.assertAccepted(queue.claim(ttl=seconds, grace=seconds))
        for seconds in (59, 43201):
            self.assertRefused(queue.claim, "claim ttl", ttl=seconds)
            self.assertRefused(queue.claim, "claim grace", grace=seconds)

    def test_subscription_ttl(self) -> None:
        queue = self.client.queue("q")
        self.assertAccepted(queue.subscribe("http://example.test/hook", ttl=60))
        self.assertRefused(queue.subscribe, "subscription ttl", "http://example.test/other", ttl=59)

    def test_twenty_ids_a_request(self) -> None:
        """Posts, reads by id and deletes by id go 20 at a time."""
        queue = self.client.queue("q")
        sent = len(self.recorder.requests)
        ids = self.successResultOf(queue.post([{"body": n} for n in range(21)]))
        self.assertEqual(len(self.recorder.requests) - sent, 2)
        sent = len(self.recorder.requests)
        self.successResultOf(queue.delete_messages(ids))
        self.assertEqual(len(self.recorder.requests) - sent, 2)

    def test_page_limit(self) -> None:
        for limit in (1, 20):
            self.assertAccepted(self.client.queues(limit=limit))
        for limit in (0, 21):
            self.assertRefused(self.client.queues, "limit", limit=limit)

    def test_metadata_size(self) -> None:
        """C{{"k":"x..."}} is 8 bytes and the x: 65,536 bytes in all are allowed, one more is not."""
        self.assertAccepted(self.client.create_queue("q", {"k": "x" * 65528}))
        self.assertRefused(self.client.create_queue, "metadata", "q2", {"k": "x" * 65529})

    def test_64_bit_integers(self) -> None:
        """A body's integers, and metadata filters' values, fit in 64 signed bits."""
        queue = self.client.queue("q")
        for value in (2**63 - 1, -(2**63)):
            self.assertAccepted(queue.post({"body": {"n": value}}))
            self.assertEqual(v.queue_filters(None, {"n": value}), {"n": value})
        # what is checked after a boolean is still checked
        self.assertRefused(queue.post, "message 0", {"body": [2**63, True]})
        for value in (2**63, -(2**63) - 1):
            self.assertRefused(queue.post, "message 0", {"body": {"n": value}})
            e = self.assertRaises(ClientValidationError, v.queue_filters, None, {"n": value})
            self.assertIn("must be from -9223372036854775808 to 9223372036854775807", str(e))


class QueueFiltersTests(SynchronousTestCase):
    """The name pattern and metadata filters of a queue listing, checked by L{v.queue_filters}."""

    def test_accepted(self) -> None:
        self.assertEqual(v.queue_filters(None, None), {})
        self.assertEqual(v.queue_filters("^a.c$", {"owner": "me", "n": 0}),
                         {"name": "^a.c$", "owner": "me", "n": 0})

    def test_refused(self) -> None:
        for name in ("", 1, "(unclosed"):
            self.assertRaises(ClientValidationError, v.queue_filters, name, None)
        for filters in (["owner", "me"], {1: "x"}, {"": "x"}, {"limit": 1}, {"k": True}, {"k": 1.5},
                        {"k": None}, {"k": ""}):
            e = self.assertRaises(ClientValidationError, v.queue_filters, None, filters)
            self.assertEqual(e.field, "filters")


class SignedURLDocumentTests(SynchronousTestCase):
    GOOD = {"paths": ["/v2/queues/q/messages"], "methods": ["GET"], "project": "p", "expires": "2030-01-01T00:00:00",
            "signature": "s"}

    def test_lists_of_strings(self) -> None:
        """C{paths} and C{methods} are non-empty lists (or tuples) of non-empty strings, nothing else."""
        self.assertEqual(v.signed_url_document({**self.GOOD, "methods": ("GET", "POST")})["methods"], ("GET", "POST"))
        for key in ("paths", "methods"):
            for bad in ("GET", {"GET": 1}, [], [""], ["GET", 1]):
                with self.subTest(key=key, bad=bad):
                    self.assertRaises(ClientValidationError, v.signed_url_document, {**self.GOOD, key: bad})


class WebSocketURLTests(SynchronousTestCase):
    def test_accepted(self) -> None:
        for url in ("ws://zaqar.test:9000", "wss://zaqar.test/", "ws://[::1]:9000"):
            self.assertEqual(v.websocket_url(url), url)

    def test_refused(self) -> None:
        for url in (None, b"ws://zaqar.test", "http://zaqar.test", "ws://", "ws://zaqar.test:port", "ws://[::1"):
            with self.subTest(url=url):
                e = self.assertRaises(ClientValidationError, v.websocket_url, url, "url")
                self.assertEqual(e.field, "url")


class CheckFunctionTests(SynchronousTestCase):
    """The small checks of L{txzaqar._support.validation}, each on both sides of its rule."""

    def test_string_list(self) -> None:
        self.assertEqual(v.string_list("ids", ("a", "b")), ["a", "b"])
        for bad in (5, "ab", [""], ["a", 1]):
            self.assertEqual(self.assertRaises(ClientValidationError, v.string_list, "ids", bad).field, "ids")

    def test_path_segment(self) -> None:
        self.assertEqual(v.path_segment("id", "a-b.c"), "a-b.c")
        for bad in ("a/b", "a?b", "a#b", "", None):
            self.assertRaises(ClientValidationError, v.path_segment, "id", bad)

    def test_queue_name_too_long(self) -> None:
        """The error shows the first 20 characters of a name that is too long."""
        e = self.assertRaises(ClientValidationError, v.queue_name, "a" * 20 + "b" * 45)
        self.assertIn("'" + "a" * 20 + "'... is 65 characters; at most 64", str(e))

    def test_id_segment(self) -> None:
        """Only spaces and control characters are refused: not other characters past ASCII."""
        self.assertEqual(v.id_segment("id", "caf\u00e9~"), "caf\u00e9~")
        for bad in ("a b", "\x00", "\x1f", "\x7f"):
            self.assertRaises(ClientValidationError, v.id_segment, "id", bad)

    def test_positive_seconds(self) -> None:
        for good in (0.5, 1, 1e-3):
            self.assertEqual(v.positive_seconds("timeout", good), float(good))
        for bad in (0, -1, math.inf, math.nan, True, "1"):
            self.assertRaises(ClientValidationError, v.positive_seconds, "timeout", bad)

    def test_marker(self) -> None:
        self.assertIsNone(v.marker("marker", None))
        self.assertEqual(v.marker("marker", "q1"), "q1")
        for bad in ("", 1, b"q1"):
            self.assertRaises(ClientValidationError, v.marker, "marker", bad)


class ValidationTests(SynchronousTestCase):
    def test_queue_names(self) -> None:
        for good in ("q", "A", "0", "_", "-", "a-b-c_D9", "x" * 64):
            self.assertEqual(v.queue_name(good), good)
        for bad, words in (("", "empty"), ("x" * 65, "at most 64"), ("a/b", "letters"),
                           ("sp ace", "letters"), (3, "string"), ("a.b", "letters"), ("v1.2.3", "letters"),
                           (".x", "letters"), (".", "letters"), ("p\u00e9", "letters"), ("\u0661", "letters")):
            error = self.assertRaises(ClientValidationError, v.queue_name, bad)
            self.assertEqual(error.field, "queue name")
            self.assertIn(words, str(error))

    def test_integer_bounds(self) -> None:
        error = self.assertRaises(ClientValidationError, v.integer, "claim ttl", 59, 60, 43200)
        self.assertIn("60 to 43200", str(error))
        self.assertRaises(ClientValidationError, v.integer, "claim ttl", True, 0, 10)
        self.assertRaises(ClientValidationError, v.integer, "claim ttl", "60", 0, 100)

    def test_id_lists(self) -> None:
        self.assertRaises(ClientValidationError, v.string_list, "ids", "abc")
        self.assertRaises(ClientValidationError, v.string_list, "ids", ["a", ""])
        self.assertEqual(v.string_list("ids", ("a", "b")), ["a", "b"])
