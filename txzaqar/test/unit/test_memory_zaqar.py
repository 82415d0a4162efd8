"""
Tests of the in-memory Zaqar (L{txzaqar.testing.MemoryZaqar}) that the
contract suite cannot do against a real server quickly: everything that
depends on time (message ttl, claim ttl and grace, delays, dead-letter
moves, subscription ttl), driven by a L{Clock}; and the exact error
statuses, titles and descriptions of Zaqar 23.0.1 for requests the client
never sends on its own (missing headers, 406, 415, limits).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from treq.client import HTTPClient
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.api import _paths
from txzaqar.api.claim import Claim
from txzaqar.api.message import MessageStatus
from txzaqar.http.connection import JSON_PATCH_TYPE, _BytesProducer
from txzaqar.testing import MEMORY_URL, MemoryAgent, MemoryZaqar, memory_client, memory_subscriber

T = TypeVar("T")


class FakeTestCase(SynchronousTestCase):
    """A client on a fresh fake with a Clock; every request completes at once."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.client, self.fake = memory_client(clock=self.clock, roles=["admin"])
        self.queue = self.client.queue("q")

    def run_(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine that only waits on the fake; return its result."""
        return self.successResultOf(Deferred.fromCoroutine(coro))

    def wait(self, d: Deferred[T]) -> T:
        return self.successResultOf(d)

    def error(self, d: Deferred[Any], cls: type[errors.ZaqarError], code: int,
              title: str | None = None, description: str | None = None) -> errors.ZaqarError:
        e = self.failureResultOf(d, cls).value
        self.assertEqual(e.code, code)
        if title is not None:
            self.assertEqual(e.title, title)
        if description is not None:
            self.assertEqual(e.description, description)
        return e

    def raw(self, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        """A request with exactly these headers (none added), straight through the agent."""
        http = HTTPClient(MemoryAgent(self.fake))
        producer = _BytesProducer(body) if body is not None else None
        sent: Any = headers or {}
        d = http.request(method, MEMORY_URL + path, headers=sent, data=producer)
        response = self.successResultOf(d)
        content = self.successResultOf(response.content())
        return response.code, {k.decode().lower(): v[-1].decode()
                               for k, v in response.headers.getAllRawHeaders()}, content

    def good_headers(self, **extra: str) -> dict[str, str]:
        return {"Client-ID": str(uuid.uuid4()), "X-Project-ID": "test", **extra}


class MessageTimeTests(FakeTestCase):
    def test_age_follows_the_clock(self) -> None:
        [mid] = self.wait(self.queue.post({"body": 1}))
        self.clock.advance(42)
        self.assertEqual(self.wait(self.queue.message(mid)).age, 42)

    def test_message_expires_after_ttl(self) -> None:
        [mid] = self.wait(self.queue.post({"body": 1, "ttl": 60}))
        self.clock.advance(59)
        self.assertEqual([m.id for m in self.wait(self.queue.messages())], [mid])
        self.clock.advance(1)
        self.assertEqual(self.wait(self.queue.messages()), [])
        self.error(self.queue.message(mid), errors.NotFound, 404, "Not found",
                   f"Message {mid} does not exist in queue q for project test")
        self.assertEqual(self.wait(self.queue.stats()).total, 0)
        self.assertFalse(self.wait(self.queue.claim()))

    def test_queue_default_ttl(self) -> None:
        self.wait(self.queue.create({"_default_message_ttl": 120}))
        [mid] = self.wait(self.queue.post({"body": 1}))
        self.assertEqual(self.wait(self.queue.message(mid)).ttl, 120)
        self.clock.advance(120)
        self.assertEqual(self.fake.message_bodies("test", "q"), [])

    def test_delay_on_a_queue_with_default_delay(self) -> None:
        """The queue's delay applies by default; a message's own delay overrides it."""
        self.wait(self.queue.create({"_default_message_delay": 30}))
        [default, own, none] = self.wait(self.queue.post(
            [{"body": "default"}, {"body": "own", "delay": 90}, {"body": "none", "delay": 0}]))
        self.assertEqual([m.id for m in self.wait(self.queue.messages())], [none])
        self.clock.advance(30)
        self.assertEqual([m.id for m in self.wait(self.queue.messages())], [default, none])
        claim = self.wait(self.queue.claim())
        self.assertEqual([m.id for m in claim], [default, none])
        self.clock.advance(60)
        self.assertEqual([m.id for m in self.wait(self.queue.claim())], [own])

    def test_delay_dropped_without_default_delay(self) -> None:
        """Quirk 4 of L{txzaqar.testing.quirks}, kept: a message's delay is ignored (even out of range) without a queue delay."""
        [mid] = self.wait(self.queue.post({"body": 1, "delay": 600}))
        self.assertEqual([m.id for m in self.wait(self.queue.messages())], [mid])
        response = self.wait(self.client.connection.post(
            "queues/q/messages", body={"messages": [{"body": 2, "delay": 901}]}))
        self.assertEqual(response.code, 201)
        self.assertEqual(len(self.wait(self.queue.claim())), 2)

    def test_delay_out_of_range_on_a_delay_queue(self) -> None:
        self.wait(self.queue.create({"_default_message_delay": 10}))
        self.error(self.client.connection.post(
            "queues/q/messages", body={"messages": [{"body": 2, "delay": 901}]}),
            errors.BadRequest, 400, "Invalid API request",
            "The Delay TTL for a message may not exceed 900 seconds,and must be at least "
            "0 seconds long.")

    def test_echo(self) -> None:
        """Messages posted with a client's own Client-ID are hidden from it unless echo."""
        [mid] = self.wait(self.queue.post({"body": 1}))
        self.assertEqual(self.wait(self.queue.messages(echo=False)), [])
        other, _ = memory_client(fake=self.fake)
        self.assertEqual([m.id for m in self.wait(other.queue("q").messages(echo=False))], [mid])


class ClaimTimeTests(FakeTestCase):
    def test_claim_expires(self) -> None:
        ids = self.wait(self.queue.post([{"body": 1}, {"body": 2}]))
        claim = self.wait(self.queue.claim(ttl=60))
        self.assertEqual(self.wait(self.queue.stats()).claimed, 2)
        self.clock.advance(59)
        self.assertFalse(self.wait(self.queue.claim()))
        self.clock.advance(1)
        self.error(claim.reload(), errors.NotFound, 404, "Not found",
                   f"Claim {claim.id} does not exist in queue q for project test")
        self.error(claim.patch(ttl=60), errors.NotFound, 404)
        [message] = [m for m in self.wait(self.queue.messages()) if m.id == ids[0]]
        self.assertEqual(message.status, MessageStatus.FREE)
        self.error(self.queue.delete_message(ids[0], claim_id=claim.id), errors.BadRequest, 400,
                   "Unable to delete",
                   "A claim was specified, but the message is not currently claimed.")
        self.assertEqual([m.id for m in self.wait(self.queue.claim())], ids)

    def test_grace_keeps_a_short_lived_message_alive(self) -> None:
        """A message that would expire before its claim lives claim ttl + grace."""
        [mid] = self.wait(self.queue.post({"body": 1, "ttl": 60}))
        self.wait(self.queue.claim(ttl=120, grace=90))
        self.assertEqual(self.wait(self.queue.message(mid)).ttl, 210)
        self.clock.advance(120)  # the claim is gone; the message is not
        self.assertEqual(self.wait(self.queue.message(mid)).status, MessageStatus.FREE)
        self.clock.advance(89)
        self.assertEqual([m.id for m in self.wait(self.queue.messages())], [mid])
        self.clock.advance(1)
        self.assertEqual(self.wait(self.queue.messages()), [])

    def test_long_lived_message_keeps_its_ttl(self) -> None:
        [mid] = self.wait(self.queue.post({"body": 1, "ttl": 3600}))
        self.wait(self.queue.claim(ttl=60))
        self.assertEqual(self.wait(self.queue.message(mid)).ttl, 3600)

    def test_renewal_extends_the_claim(self) -> None:
        [mid] = self.wait(self.queue.post({"body": 1}))
        claim = self.wait(self.queue.claim(ttl=60))
        self.clock.advance(50)
        self.assertEqual(self.wait(claim.reload()).age, 50)
        renewed = self.wait(claim.patch(ttl=60))
        self.assertEqual(self.wait(renewed.reload()).age, 0)
        self.clock.advance(50)
        self.wait(self.queue.delete_message(mid, claim_id=claim.id))
        self.assertEqual(self.fake.message_bodies("test", "q"), [])

    def test_patch_omitted_fields_take_server_defaults(self) -> None:
        """A raw PATCH with only a ttl resets the grace to 60, and an empty body means 300/60."""
        [mid] = self.wait(self.queue.post({"body": 1, "ttl": 60}))
        claim = self.wait(self.queue.claim(ttl=100, grace=300))
        self.assertEqual(self.wait(self.queue.message(mid)).ttl, 400)
        self.wait(self.client.connection.patch(_paths.claim(claim.queue.name, str(claim.id)).path, body={"ttl": 500}))
        self.assertEqual(self.wait(self.queue.message(mid)).ttl, 560)
        self.wait(self.client.connection.patch(_paths.claim(claim.queue.name, str(claim.id)).path, body={}))
        self.assertEqual(self.wait(claim.reload()).ttl, 300)
        self.assertEqual(self.wait(self.queue.message(mid)).ttl, 560)

    def test_patch_bodies(self) -> None:
        self.wait(self.queue.post({"body": 1}))
        claim = self.wait(self.queue.claim())
        self.error(self.client.connection.patch(_paths.claim(claim.queue.name, str(claim.id)).path), errors.BadRequest, 400,
                   "Invalid request body", "Request body can not be empty")
        self.error(self.client.connection.patch(_paths.claim(claim.queue.name, str(claim.id)).path, body={"ttl": "x"}),
                   errors.BadRequest, 400, "Invalid request body",
                   'The value of the "ttl" field must be a int.')
        self.error(self.client.connection.patch(_paths.claim(claim.queue.name, str(claim.id)).path, body={"ttl": 30}),
                   errors.BadRequest, 400, "Invalid API request",
                   "The TTL for a claim may not exceed 43200 seconds, and must be at least "
                   "60 seconds long.")

    def test_release(self) -> None:
        ids = self.wait(self.queue.post([{"body": 1}, {"body": 2}]))
        claim = self.wait(self.queue.claim(limit=1))
        self.wait(claim.release())
        self.assertEqual([m.id for m in self.wait(self.queue.claim())], ids)

    def test_claim_takes_only_free_messages(self) -> None:
        """Unlike Redis's claim script, a claim never takes messages another claim holds."""
        ids = self.wait(self.queue.post([{"body": 1}, {"body": 2}]))
        older = self.wait(self.queue.claim(limit=1))
        newer = self.wait(self.queue.claim(limit=1))
        self.wait(older.release())
        self.assertEqual([m.id for m in self.wait(self.queue.claim())], ids[:1])
        self.assertEqual([m.id for m in self.wait(newer.reload())], ids[1:])

    def test_delete_under_another_live_claim_403(self) -> None:
        [first, second] = self.wait(self.queue.post([{"body": 1}, {"body": 2}]))
        self.wait(self.queue.claim(limit=1))
        other = self.wait(self.queue.claim(limit=1))
        self.error(self.queue.delete_message(first, claim_id=other.id), errors.Forbidden, 403,
                   "Unable to delete",
                   "This message is claimed; it cannot be deleted without a valid claim ID.")
        self.error(self.queue.delete_message(second, claim_id="not-a-uuid"), errors.BadRequest,
                   400, "Unable to delete", "The specified claim does not exist or has expired.")

    def test_bulk_delete_ignores_claims(self) -> None:
        ids = self.wait(self.queue.post([{"body": 1}, {"body": 2}]))
        self.wait(self.queue.claim())
        self.wait(self.queue.delete_messages(ids))
        self.assertEqual(self.wait(self.queue.stats()).total, 0)

    def test_pop(self) -> None:
        ids = self.wait(self.queue.post([{"body": i} for i in range(3)]))
        self.wait(self.queue.claim(limit=1))
        popped = self.wait(self.queue.pop(5))
        self.assertEqual([m.id for m in popped], ids[1:])
        self.assertEqual(self.fake.message_bodies("test", "q"), [0])


class DeadLetterTests(FakeTestCase):
    def test_moved_after_max_claim_count(self) -> None:
        """
        With C{_max_claim_count} 2 a message can be claimed twice; the third
        claim attempt moves it to the dead letter queue (which need not
        exist yet) and answers 204; it stays under that claim in the DLQ
        until the claim expires.
        """
        self.wait(self.queue.create({"_max_claim_count": 2, "_dead_letter_queue": "dead",
                                     "_dead_letter_queue_messages_ttl": 600}))
        [mid] = self.wait(self.queue.post({"body": "poison", "ttl": 3600}))
        for _ in (1, 2):
            claim = self.wait(self.queue.claim(ttl=60))
            self.assertEqual([m.id for m in claim], [mid])
            self.clock.advance(60)  # the claim expires unprocessed
        self.assertFalse(self.wait(self.queue.claim(ttl=60)))
        self.assertEqual(self.fake.message_bodies("test", "q"), [])
        self.assertEqual(self.fake.message_bodies("test", "dead"), ["poison"])
        self.assertNotIn("dead", self.fake.queue_names("test"))
        self.wait(self.client.create_queue("dead"))
        dead = self.client.queue("dead")
        self.assertEqual(self.wait(dead.messages()), [])
        [hidden] = self.wait(dead.messages(include_claimed=True))
        self.assertEqual((hidden.id, hidden.ttl, hidden.status), (mid, 600, MessageStatus.CLAIMED))
        self.clock.advance(60)
        [visible] = self.wait(dead.claim())
        self.assertEqual((visible.id, visible.body), (mid, "poison"))
        self.assertEqual(visible.age, 180)
        self.clock.advance(420)  # created + the DLQ ttl
        self.assertEqual(self.fake.message_bodies("test", "dead"), [])

    def test_without_a_dead_letter_queue_no_limit(self) -> None:
        self.wait(self.queue.create({"_max_claim_count": 1}))
        [mid] = self.wait(self.queue.post({"body": 1}))
        for _ in range(3):
            claim = self.wait(self.queue.claim())
            self.assertEqual([m.id for m in claim], [mid])
            self.wait(claim.release())

    def test_pop_counts_as_a_claim(self) -> None:
        self.wait(self.client.connection.put(  # the client refuses a count of 0
            "queues/q", body={"_max_claim_count": 0, "_dead_letter_queue": "dead"}))
        self.wait(self.queue.post({"body": 1}))
        self.assertEqual(self.wait(self.queue.pop()), [])
        self.assertEqual(self.fake.message_bodies("test", "dead"), [1])


class SubscriptionTimeTests(FakeTestCase):
    def test_subscription_expires(self) -> None:
        subscription = self.wait(self.queue.subscribe("http://example.com/hook", ttl=60))
        self.clock.advance(30)
        self.assertEqual(self.wait(subscription.reload()).age, 30)
        self.clock.advance(30)
        self.error(subscription.reload(), errors.NotFound, 404, "Not found",
                   f"Subscription {subscription.id} does not exist")
        self.assertEqual(self.wait(self.queue.subscriptions()), [])
        again = self.wait(self.queue.subscribe("http://example.com/hook"))
        self.assertNotEqual(again.id, subscription.id)

    def test_ttl_update_restarts_age(self) -> None:
        subscription = self.wait(self.queue.subscribe("http://example.com/hook", ttl=60))
        self.clock.advance(50)
        self.wait(subscription.update(ttl=60))
        self.clock.advance(50)
        self.assertEqual(self.wait(subscription.reload()).age, 50)


class WireTests(FakeTestCase):
    """Statuses, titles and descriptions of Zaqar 23.0.1, from raw requests."""

    def test_versions_need_no_headers(self) -> None:
        code, headers, body = self.raw("GET", "/")
        self.assertEqual(code, 300)
        self.assertEqual(json.loads(body)["versions"][0]["links"], [{"href": "/v2/", "rel": "self"}])
        self.assertTrue(headers["x-openstack-request-id"].startswith("req-"))

    def test_home_document(self) -> None:
        code, headers, body = self.raw("GET", "/v2/", self.good_headers())
        self.assertEqual(code, 200)
        self.assertEqual(headers["content-type"], "application/json-home")
        self.assertEqual(headers["cache-control"], "max-age=86400")
        self.assertIn("rel/health", json.loads(body)["resources"])

    def test_v2_without_slash_404(self) -> None:
        self.assertEqual(self.raw("GET", "/v2", self.good_headers())[0], 404)

    def test_missing_client_id(self) -> None:
        code, _, body = self.raw("GET", "/v2/queues", {"X-Project-ID": "p"})
        self.assertEqual((code, json.loads(body)), (400, {
            "title": "Missing header value", "description": 'The "Client-Id" header is required.'}))

    def test_client_id_not_a_uuid(self) -> None:
        code, _, body = self.raw("GET", "/v2/queues", {"Client-ID": "nope", "X-Project-ID": "p"})
        self.assertEqual((code, json.loads(body)["title"]), (400, "Wrong UUID value"))
        dashless = uuid.uuid4().hex
        self.assertEqual(self.raw("GET", "/v2/queues", {"Client-ID": dashless, "X-Project-ID": "p"})[0],
                         200)

    def test_project_missing_or_empty(self) -> None:
        code, _, body = self.raw("GET", "/v2/queues", {"Client-ID": str(uuid.uuid4())})
        self.assertEqual((code, json.loads(body)["title"]), (400, "Project-Id Missing"))
        code, _, body = self.raw("GET", "/v2/queues", self.good_headers(**{"X-Project-ID": ""}))
        self.assertEqual((code, json.loads(body)["title"]), (400, "Empty project header not allowed"))
        tenant = {"Client-ID": str(uuid.uuid4()), "X-Tenant-ID": "t"}
        self.assertEqual(self.raw("GET", "/v2/queues", tenant)[0], 200)

    def test_project_too_long_for_queue_routes(self) -> None:
        headers = self.good_headers(**{"X-Project-ID": "p" * 257})
        code, _, body = self.raw("GET", "/v2/queues/q/stats", headers)
        self.assertEqual((code, json.loads(body)["title"]), (400, "Invalid queue identification"))
        self.assertEqual(self.raw("GET", "/v2/queues", headers)[0], 200)

    def test_not_acceptable(self) -> None:
        code, _, body = self.raw("GET", "/v2/queues", self.good_headers(Accept="text/html"))
        self.assertEqual((code, body), (406, b""))
        self.assertEqual(self.raw("GET", "/v2/queues", self.good_headers(Accept="*/*"))[0], 200)

    def test_form_content_type(self) -> None:
        code, _, body = self.raw(
            "PUT", "/v2/queues/q",
            self.good_headers(**{"Content-Type": "application/x-www-form-urlencoded"}), b"{}")
        self.assertEqual((code, json.loads(body)["title"]), (400, "Invalid Content-Type"))

    def test_method_not_allowed(self) -> None:
        code, headers, body = self.raw("POST", "/v2/queues", self.good_headers())
        self.assertEqual((code, json.loads(body)), (405, {"title": "405 Method Not Allowed"}))
        self.assertIn("GET", headers["allow"])

    def test_unknown_route_before_header_checks(self) -> None:
        code, _, body = self.raw("GET", "/v2/nothing")
        self.assertEqual((code, json.loads(body)), (404, {"title": "404 Not Found"}))

    def test_health_403_without_admin(self) -> None:
        client, _ = memory_client(fake=self.fake)
        self.error(client.health(), errors.Forbidden, 403, "Not authorized",
                   "You are not authorized to complete this action.")

    def test_health_404_without_admin_mode(self) -> None:
        client, _ = memory_client(roles=["admin"], admin_mode=False)
        self.error(client.health(), errors.NotFound, 404)

    def test_patch_415(self) -> None:
        self.wait(self.queue.create())
        self.error(self.client.connection.patch("queues/q", body=[], content_type="application/json"),
                   errors.UnsupportedMediaType, 415, "415 Unsupported Media Type",
                   "Accepted media type for PATCH: "
                   "{'Accept-Patch': 'application/openstack-messaging-v2.0-json-patch'}.")

    def test_patch_errors(self) -> None:
        def patch(ops: Any) -> Deferred[Any]:
            return self.client.connection.patch("queues/q", body=ops, content_type=JSON_PATCH_TYPE)

        self.error(patch([{"op": "add", "path": "/metadata/a", "value": 1}]), errors.NotFound, 404,
                   "Not found", "Queue q does not exist for project test")
        self.wait(self.queue.create())
        self.error(patch([{"op": "remove", "path": "/metadata/nope"}]), errors.Conflict, 409,
                   "Resource conflict", "Can't remove non-existent object nope.")
        self.wait(patch([{"op": "remove", "path": "/metadata/_max_claim_count"}]))
        self.error(patch([{"op": "move", "path": "/metadata/a"}]), errors.BadRequest, 400,
                   "Invalid request body",
                   "Invalid operation: `move`. It must be one of the following: add, remove, replace.")
        self.error(patch({"op": "add"}), errors.BadRequest, 400, "Invalid request body")
        self.error(patch([{"op": "add", "path": "/metadata/_default_message_ttl", "value": "x"}]),
                   errors.BadRequest, 400, "Invalid request body",
                   "_default_message_ttl must be integer.")

    def test_reserved_defaults_fill_falsy_values(self) -> None:
        self.wait(self.queue.create({"_default_message_delay": 0, "colour": "red"}))
        content = self.wait(self.queue.metadata()).content
        self.assertEqual(content, {
            "colour": "red", "_max_messages_post_size": 262144, "_default_message_ttl": 3600,
            "_default_message_delay": 0, "_dead_letter_queue": None,
            "_dead_letter_queue_messages_ttl": None, "_max_claim_count": None,
            "_enable_encrypt_messages": False,
        })
        self.assertEqual(self.fake.metadata("test", "q"), {"_default_message_delay": 0, "colour": "red"})

    def test_limits(self) -> None:
        conn = self.client.connection
        ids = [str(uuid.uuid4()) for _ in range(21)]
        self.error(conn.get("queues/q/messages", params={"ids": ids}), errors.BadRequest, 400,
                   "Invalid API request", "Limit must be at least 1 and may not be greater than 20.")
        self.error(conn.delete("queues/q/messages", params={"ids": ids}), errors.BadRequest, 400,
                   "Invalid API request",
                   "ids parameter should have at least 1 and not greater than 20 values.")
        self.error(conn.delete("queues/q/messages", params={"pop": 21}), errors.BadRequest, 400,
                   "Invalid API request", "Pop value must be at least 1 and may not be greater than 20.")
        self.error(conn.get("queues", params={"limit": 0}), errors.BadRequest, 400,
                   "Invalid API request", "Limit must be at least 1 and no greater than 20.")
        self.error(conn.post("queues/q/claims", params={"limit": 21}), errors.BadRequest, 400)
        self.error(conn.get("queues/q/messages", params={"echo": "maybe"}), errors.BadRequest, 400,
                   "Invalid parameter",
                   'The "echo" parameter is invalid. The value of the parameter must be "true" '
                   'or "false".')
        self.error(conn.put("queues/" + "a" * 65), errors.BadRequest, 400,
                   "Invalid queue identification")
        big = {"x": "y" * 70000}
        self.error(conn.put("queues/q", body=big), errors.BadRequest, 400, "Invalid API request",
                   "Queue metadata is too large. Max size: 65536")
        self.error(conn.post("queues/q/messages", body={"messages": [{"body": "z" * 262144}]}),
                   errors.BadRequest, 400, "Invalid API request",
                   "Message collection size is too large. Max size 262144")

    def test_get_many_404_description(self) -> None:
        self.wait(self.queue.create())
        missing = str(uuid.uuid4())
        self.error(self.client.connection.get("queues/q/messages", params={"ids": [missing]}),
                   errors.NotFound, 404, "Not found",
                   f"No messages with IDs: ['{missing}'] found in the queue q for project test.")

    def test_paging_links(self) -> None:
        ids = self.wait(self.queue.post([{"body": i} for i in range(3)]))
        body = self.wait(self.client.connection.get(
            "queues/q/messages", params={"limit": 2, "echo": True})).json
        self.assertEqual([m["id"] for m in body["messages"]], ids[:2])
        self.assertEqual(body["links"], [{
            "rel": "next",
            "href": f"/v2/queues/q/messages?limit=2&echo=true&include_delayed=true&marker={ids[1]}",
        }])
        queues = self.wait(self.client.connection.get("queues", params={"limit": 1})).json
        self.assertEqual(queues["links"], [{"rel": "next", "href": "/v2/queues?limit=1&marker=q"}])
        self.assertNotIn("count", queues)
        counted = self.wait(self.client.connection.get("queues", params={"with_count": True})).json
        self.assertEqual(counted["count"], 1)

    def test_post_response(self) -> None:
        response = self.wait(self.client.connection.post(
            "queues/q/messages", body={"messages": [{"body": 1}, {"body": 2}]}))
        [a, b] = [href.rsplit("/", 1)[1] for href in response.json["resources"]]
        self.assertEqual(response.location, f"/v2/queues/q/messages?ids={a},{b}")

    def test_claim_response(self) -> None:
        self.wait(self.queue.post({"body": 1}))
        response = self.wait(self.client.connection.post("queues/q/claims", body={}))
        self.assertEqual(response.code, 201)
        claim_id = response.location.rsplit("/", 1)[1]
        [message] = response.json["messages"]
        self.assertEqual(sorted(message), ["age", "body", "href", "id", "ttl"])
        self.assertTrue(message["href"].endswith(f"?claim_id={claim_id}"))
        empty = self.wait(self.client.connection.post("queues/q/claims"))
        self.assertEqual((empty.code, empty.content), (204, b""))

    def test_share_signature(self) -> None:
        """The signature is Zaqar's HMAC-SHA256, checked on use; it expires with the clock."""
        fake = MemoryZaqar(self.clock, secret_key="k")
        client, _ = memory_client(fake=fake)
        queue = client.queue("s")
        self.wait(queue.post({"body": 1}))
        signed = self.wait(queue.share(methods=["GET", "POST"]))
        text = f"/v2/queues/s/messages\\nGET,POST\\ntest\\n{signed.expires}"
        self.assertEqual(signed.signature,
                         hmac.new(b"k", text.encode(), hashlib.sha256).hexdigest())
        headers: Any = dict(signed.headers(), **{"Client-ID": str(uuid.uuid4())})
        http = HTTPClient(MemoryAgent(fake))

        def status(method: str, path: str) -> int:
            d = http.request(method, MEMORY_URL + path, headers=headers)
            return int(self.successResultOf(d).code)

        self.assertEqual(status("GET", "/v2/queues/s/messages"), 200)
        self.assertEqual(status("DELETE", "/v2/queues/s/messages?pop=1"), 404)
        self.assertEqual(status("GET", "/v2/queues/s/stats"), 404)
        self.clock.advance(86400)
        self.assertEqual(status("GET", "/v2/queues/s/messages"), 404)

    def test_share_without_key(self) -> None:
        client, _ = memory_client(secret_key=None)
        self.error(client.queue("s").share(), errors.BadRequest, 400, "Invalid API request",
                   "The `key` can't be None")

    def test_projects_are_isolated(self) -> None:
        self.wait(self.queue.post({"body": 1}))
        other, _ = memory_client(fake=self.fake, project_id="other")
        self.assertEqual(self.wait(other.queues()), [])
        self.assertEqual(self.wait(other.queue("q").stats()).total, 0)
        self.assertEqual(self.fake.queue_names("test"), ["q"])

    def test_queue_list_filters(self) -> None:
        """Name and metadata filters apply (Redis ignores them: quirk 7 of L{txzaqar.testing.quirks})."""
        self.wait(self.client.create_queue("alpha", {"team": "a", "n": 1}))
        self.wait(self.client.create_queue("beta", {"team": "b"}))
        body = self.wait(self.client.connection.get("queues", params={"team": "b"})).json
        self.assertEqual([q["name"] for q in body["queues"]], ["beta"])
        body = self.wait(self.client.connection.get("queues", params={"n": "1"})).json
        self.assertEqual([q["name"] for q in body["queues"]], ["alpha"])
        body = self.wait(self.client.connection.get("queues", params={"name": "^al"})).json
        self.assertEqual([q["name"] for q in body["queues"]], ["alpha"])

    def test_requests_are_recorded(self) -> None:
        self.wait(self.client.ping())
        self.assertEqual(self.fake.requests[-1], ("GET", "/v2/ping"))


class HelperTests(SynchronousTestCase):
    def test_memory_client_defaults(self) -> None:
        client, fake = memory_client()
        self.assertIsInstance(fake.clock, Clock)
        self.assertIs(client.connection.reactor, fake.clock)
        self.assertEqual(client.connection.authenticator.project_id, "test")

    def test_fake_options_only_for_a_new_fake(self) -> None:
        _, fake = memory_client()
        self.assertRaises(TypeError, memory_client, fake=fake, secret_key="x")

    def test_subscriber_delivers_and_deletes(self) -> None:
        subscriber, client, fake = memory_subscriber(poll_interval=1.0)
        seen: list[Any] = []
        subscriber.subscribe("jobs", lambda message: seen.append(message.body))
        subscriber.startService()
        self.successResultOf(client.queue("jobs").post([{"body": "a"}, {"body": "b"}]))
        fake.clock.advance(5)
        self.assertEqual(seen, ["a", "b"])
        self.assertEqual(fake.message_bodies("test", "jobs"), [])
        self.successResultOf(subscriber.stopService())

    def test_subscriber_failure_is_redelivered(self) -> None:
        subscriber, client, fake = memory_subscriber(claim_ttl=60)
        attempts: list[int] = []

        def handler(message: Any) -> None:
            attempts.append(message.claim_count)
            if len(attempts) == 1:
                raise RuntimeError("first try fails")

        subscriber.subscribe("jobs", handler)
        subscriber.startService()
        self.successResultOf(client.queue("jobs").post({"body": "x"}))
        for _ in range(130):
            fake.clock.advance(1)
        self.assertEqual(len(attempts), 2)
        self.assertEqual(fake.message_bodies("test", "jobs"), [])
        self.flushLoggedErrors(RuntimeError)
        self.successResultOf(subscriber.stopService())

    def test_claim_object(self) -> None:
        client, fake = memory_client()
        queue = client.queue("q")
        self.successResultOf(queue.post({"body": 1}))
        claim = self.successResultOf(queue.claim())
        self.assertIsInstance(claim, Claim)
        fake.clock.advance(300)
        self.failureResultOf(claim.reload(), errors.NotFound)


class RefusedBodyTests(FakeTestCase):
    """
    What Zaqar 23.0.1 on Redis answers to a lone surrogate (C{"\\ud800"}) in
    a JSON body: its storage fails, so a 503 "try again" (a 400 for a
    subscription PATCH); nothing is stored, and every later request is
    answered.
    """

    UNAVAILABLE = "Service temporarily unavailable"

    def send(self, method: str, path: str, body: bytes,
             content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
        code, _, content = self.raw(method, path, self.good_headers(**{"Content-Type": content_type}), body)
        return code, json.loads(content) if content else {}

    def test_post_messages(self) -> None:
        for body in (b'{"messages":[{"body":"\\ud800"}]}', b'{"messages":[{"body":{"\\udc00":1}}]}',
                     b'{"messages":[{"body":1},{"body":["a\\ud83d"]}]}'):
            self.assertEqual(self.send("POST", "/v2/queues/q/messages", body), (503, {
                "title": self.UNAVAILABLE,
                "description": "Messages could not be enqueued. Please try again in a few seconds."}))
        self.assertEqual(self.fake.message_bodies("test", "q"), [])
        # the queue still lists (it hung before), and a pair of escapes is one character
        self.assertEqual(self.wait(self.queue.messages()), [])
        code, _ = self.send("POST", "/v2/queues/q/messages", b'{"messages":[{"body":"\\ud83d\\ude00"}]}')
        self.assertEqual(code, 201)
        self.assertEqual(self.fake.message_bodies("test", "q"), ["\U0001f600"])
        self.assertEqual([m.body for m in self.wait(self.queue.messages())], ["\U0001f600"])

    def test_queue_metadata(self) -> None:
        self.assertEqual(self.send("PUT", "/v2/queues/q", b'{"k":"\\ud800"}'), (503, {
            "title": self.UNAVAILABLE, "description": "Queue could not be created. Please try again in a few seconds."}))
        self.assertEqual(self.fake.queue_names("test"), [])
        self.wait(self.queue.create())
        patch = b'[{"op":"add","path":"/metadata/k","value":"\\ud800"}]'
        self.assertEqual(self.send("PATCH", "/v2/queues/q", patch, JSON_PATCH_TYPE), (503, {
            "title": self.UNAVAILABLE, "description": "Queue could not be updated. Please try again in a few seconds."}))
        self.assertEqual(self.fake.metadata("test", "q"), {})
        self.assertEqual([q.name for q in self.wait(self.client.queues(detailed=True))], ["q"])

    def test_subscriptions(self) -> None:
        body = b'{"subscriber":"http://x","options":{"a":"\\ud800"}}'
        self.assertEqual(self.send("POST", "/v2/queues/q/subscriptions", body), (503, {
            "title": self.UNAVAILABLE,
            "description": "Subscription could not be created. Please try again in a few seconds."}))
        subscription = self.wait(self.queue.subscribe("http://x"))
        code, doc = self.send("PATCH", f"/v2/queues/q/subscriptions/{subscription.id}", b'{"options":{"a":"\\ud800"}}')
        self.assertEqual((code, doc["title"]), (400, "Unable to update subscription"))
        self.assertEqual(self.wait(subscription.reload()).options, {})

    def test_an_unexpected_error_is_answered(self) -> None:
        """A failure inside the fake is a 500 (as Falcon answers), never a request left hanging."""
        def broken(*args: Any) -> Any:
            raise RuntimeError("a bug")

        self.patch(self.fake._state, "queue_listing", broken)
        code, _, content = self.raw("GET", "/v2/queues", self.good_headers())
        self.assertEqual((code, json.loads(content)), (500, {"title": "500 Internal Server Error"}))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class DottedNameListingTests(FakeTestCase):
    """
    Zaqar 23.0.1 accepts a dot in a queue name (the client does not), and
    on Redis lists such a name cut at its first dot: the fake does too.
    """

    def test_cut_at_the_first_dot(self) -> None:
        headers = self.good_headers()
        for name in ("a.b", "a.c", "v1.2.3", "plain"):
            self.assertEqual(self.raw("PUT", f"/v2/queues/{name}", headers)[0], 201)
        code, _, content = self.raw("GET", "/v2/queues?detailed=true", headers)
        listed = json.loads(content)["queues"]
        self.assertEqual([q["name"] for q in listed], ["a", "a", "plain", "v1"])
        self.assertEqual(listed[0]["metadata"]["_max_messages_post_size"], 262144)
