"""L{txzaqar.cli._follow}: tail and redrive over the in-memory Zaqar, driven by a Clock."""

from __future__ import annotations

import io
import json
from collections.abc import Coroutine, Iterable
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from txzaqar import Queue
from txzaqar.cli._commands import Context, find
from txzaqar.cli._follow import (
    RedriveFailed,
    Seen,
    Stop,
    check_redrive,
    drain,
    on_shutdown,
    read_new,
    redrive,
    remaining_ttl,
    tail,
)
from txzaqar.cli._output import Output
from txzaqar.errors import NotFound
from txzaqar.testing import memory_client


class _Queue:
    """A queue whose post or deletes fail as told (everything else is the real one's)."""

    def __init__(self, queue: Any, fail_delete: Iterable[str] = (), fail_post: bool = False) -> None:
        self._queue = queue
        self.fail_delete = set(fail_delete)
        self.fail_post = fail_post

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    def delete_message(self, message_id: str, claim_id: str | None = None) -> Any:
        if message_id in self.fail_delete:
            raise NotFound("Not found", "injected")
        return self._queue.delete_message(message_id, claim_id=claim_id)

    def post(self, messages: Any, ttl: Any = None) -> Any:
        if self.fail_post:
            raise NotFound("Not found", "injected")
        return self._queue.post(messages, ttl=ttl)


class FollowCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.client, self.fake = memory_client(clock=self.clock)
        self.printed: list[Any] = []

    def run_(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.successResultOf(Deferred.fromCoroutine(coro))

    def emit(self, message: Any) -> None:
        self.printed.append(message.body)

    def post(self, name: str, *bodies: Any, ttl: int | None = None) -> list[str]:
        return self.successResultOf(self.client.queue(name).post([{"body": b} for b in bodies], ttl=ttl))

    def bodies(self, name: str) -> list[Any]:
        listed = self.successResultOf(self.client.queue(name).messages(include_claimed=True))
        return [m.body for m in listed]


class TailTests(FollowCase):
    def test_once(self) -> None:
        """Without -f: every message once, claimed ones included, none consumed."""
        self.post("jobs", *range(25))
        self.successResultOf(self.client.queue("jobs").claim(limit=2))
        self.run_(tail(self.client.queue("jobs"), self.emit, Stop(self.clock), False, 1.0))
        self.assertEqual(self.printed, list(range(25)))
        self.assertEqual(len(self.bodies("jobs")), 25)

    def test_follow(self) -> None:
        """With -f: new messages as they arrive, each once, every interval, until stopped."""
        self.post("jobs", "a")
        stop = Stop(self.clock)
        done = Deferred.fromCoroutine(tail(self.client.queue("jobs"), self.emit, stop, True, 2.0))
        self.assertEqual(self.printed, ["a"])
        self.post("jobs", "b", "c")
        self.clock.advance(1)
        self.assertEqual(self.printed, ["a"])
        self.clock.advance(1)
        self.assertEqual(self.printed, ["a", "b", "c"])
        self.clock.advance(2)
        self.assertEqual(self.printed, ["a", "b", "c"])
        self.assertNoResult(done)
        stop.request()
        self.successResultOf(done)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_delayed_messages_are_printed_when_posted(self) -> None:
        """
        A message posted with a delay (on a queue with _default_message_delay,
        the only kind Zaqar delays on) is printed when it comes, not missed
        once later ones moved the marker past it.
        """
        self.successResultOf(self.client.queue("jobs").create({"_default_message_delay": 30}))
        stop = Stop(self.clock)
        done = Deferred.fromCoroutine(tail(self.client.queue("jobs"), self.emit, stop, True, 2.0))
        self.successResultOf(self.client.queue("jobs").post([{"body": "late", "delay": 30}, {"body": "now", "delay": 0}]))
        self.clock.advance(2)
        self.assertEqual(sorted(self.printed), ["late", "now"])
        self.clock.pump([2] * 20)  # its delay ends: not printed again
        self.assertEqual(sorted(self.printed), ["late", "now"])
        stop.request()
        self.successResultOf(done)

    def test_follow_after_deletions(self) -> None:
        """Messages deleted under the marker (consumed by others) do not make it print any twice."""
        ids = self.post("jobs", "a", "b")
        stop = Stop(self.clock)
        done = Deferred.fromCoroutine(tail(self.client.queue("jobs"), self.emit, stop, True, 1.0))
        self.successResultOf(self.client.queue("jobs").delete_messages(ids))
        self.post("jobs", "c")
        self.clock.advance(1)
        self.clock.advance(1)
        stop.request()
        self.successResultOf(done)
        self.assertEqual(self.printed, ["a", "b", "c"])

    def test_listing_starts_over(self) -> None:
        """A listing that starts over (a Redis Zaqar whose marker was deleted: quirk 1) prints nothing twice."""
        self.post("jobs", "a", "b")
        seen = Seen()
        queue = self.client.queue("jobs")
        marker = self.run_(read_new(queue, None, seen, self.emit))
        self.post("jobs", "c")
        self.run_(read_new(queue, None, seen, self.emit))
        self.assertEqual(self.printed, ["a", "b", "c"])
        self.assertIsNotNone(marker)

    def test_drain(self) -> None:
        """--consume without -f: claimed, printed and deleted until the queue is empty."""
        self.post("jobs", *range(23))
        self.assertEqual(self.run_(drain(self.client.queue("jobs"), self.emit, Stop(self.clock))), 23)
        self.assertEqual(self.printed, list(range(23)))
        self.assertEqual(self.bodies("jobs"), [])

    def test_seen_bounded(self) -> None:
        seen = Seen(size=2)
        self.assertEqual([seen.add(i) for i in "abab"], [True, True, False, False])
        seen.add("c")
        self.assertTrue(seen.add("a"))

    def test_stop_cuts_sleep(self) -> None:
        """A stop ends a sleep at once and cancels its timer; a sleep after a stop does not wait."""
        stop = Stop(self.clock)
        sleeping = Deferred.fromCoroutine(stop.sleep(60))
        self.assertNoResult(sleeping)
        stop.request()
        self.successResultOf(sleeping)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.successResultOf(Deferred.fromCoroutine(stop.sleep(60)))

    def test_wake_cuts_sleep(self) -> None:
        """A wake ends a sleep at once without stopping; one that comes between sleeps ends the next at once."""
        stop = Stop(self.clock)
        sleeping = Deferred.fromCoroutine(stop.sleep(60))
        stop.wake()
        self.successResultOf(sleeping)
        self.assertEqual((stop.requested, self.clock.getDelayedCalls()), (False, []))
        stop.wake()
        self.successResultOf(Deferred.fromCoroutine(stop.sleep(60)))
        sleeping = Deferred.fromCoroutine(stop.sleep(60))
        self.assertNoResult(sleeping)
        self.clock.advance(60)
        self.successResultOf(sleeping)

    def test_on_shutdown(self) -> None:
        """The reactor's shutdown asks to stop and waits for the block; after it, no trigger is left."""
        triggers: list[Any] = []

        class Reactor:
            def addSystemEventTrigger(self, phase: str, event: str, f: Any) -> int:
                triggers.append(f)
                return len(triggers)

            def removeSystemEventTrigger(self, trigger: int) -> None:
                triggers.pop(trigger - 1)

        stop = Stop(self.clock)
        with on_shutdown(Reactor(), stop):
            waiting = triggers[0]()
            self.assertTrue(stop.requested)
            self.assertNoResult(waiting)
        self.successResultOf(waiting)
        with on_shutdown(Reactor(), Stop(self.clock)):
            pass
        self.assertEqual(len(triggers), 1)


class RedriveTests(FollowCase):
    def test_moves_all(self) -> None:
        """Claims page after page until the dead-letter queue is empty; bodies and ttl (what is left of it) kept."""
        self.post("dlq", *range(45), ttl=600)
        moved = self.run_(redrive(self.client.queue("dlq"), self.client.queue("jobs"), None))
        self.assertEqual(moved, 45)
        self.assertEqual(self.bodies("dlq"), [])
        listed = self.successResultOf(self.client.queue("jobs").messages())
        self.assertEqual([m.body for m in listed], list(range(45)))
        self.assertEqual({m.ttl for m in listed}, {600})

    def test_moved_messages_keep_their_expiry(self) -> None:
        """A moved message gets what is left of its ttl: it expires when it would have."""
        self.post("dlq", "old", ttl=600)
        self.clock.advance(200)
        self.run_(redrive(self.client.queue("dlq"), self.client.queue("jobs"), None))
        listed = self.successResultOf(self.client.queue("jobs").messages())
        self.assertEqual({m.body: m.ttl for m in listed}, {"old": 400})

    def test_remaining_ttl(self) -> None:
        """Its ttl less its age, Zaqar's least ttl (60 s) at least; None without a ttl."""
        class M:
            def __init__(self, ttl: Any, age: Any) -> None:
                self.ttl, self.age = ttl, age

        self.assertEqual([remaining_ttl(M(600, 200)), remaining_ttl(M(360, 350)), remaining_ttl(M(300, None)),
                          remaining_ttl(M(None, 5))], [400, 60, 300, None])

    def test_limit(self) -> None:
        self.post("dlq", *range(25))
        self.assertEqual(self.run_(redrive(self.client.queue("dlq"), self.client.queue("jobs"), 22)), 22)
        self.assertEqual(self.bodies("dlq"), [22, 23, 24])
        self.assertEqual(len(self.bodies("jobs")), 22)

    def test_delete_fails(self) -> None:
        """A message posted but not deleted is named (with its copy); the rest moved; its claim released."""
        ids = self.post("dlq", "a", "b", "c")
        source = _Queue(self.client.queue("dlq"), fail_delete={ids[1]})
        failed = self.failureResultOf(Deferred.fromCoroutine(
            redrive(source, self.client.queue("jobs"), None)), RedriveFailed).value
        self.assertEqual(failed.moved, 2)
        copies = self.successResultOf(self.client.queue("jobs").messages())
        self.assertEqual(failed.duplicated, [(ids[1], copies[1].id)])
        self.assertIsInstance(failed.cause, NotFound)
        self.assertEqual([m.body for m in self.successResultOf(self.client.queue("dlq").claim())], ["b"])

    def test_post_fails(self) -> None:
        """Nothing posted: nothing deleted, the claim released (the messages can be claimed at once)."""
        self.post("dlq", "a", "b")
        target = _Queue(self.client.queue("jobs"), fail_post=True)
        failed = self.failureResultOf(Deferred.fromCoroutine(
            redrive(self.client.queue("dlq"), target, None)), RedriveFailed).value
        self.assertEqual((failed.moved, failed.duplicated), (0, []))
        self.assertEqual([m.body for m in self.successResultOf(self.client.queue("dlq").claim())], ["a", "b"])
        self.assertEqual(self.bodies("jobs"), [])

    def command(self, fmt: str, **options: Any) -> tuple[str, str, Any]:
        """Run the redrive command; what it printed on stdout and stderr, and its failure (or None)."""
        out, err = io.StringIO(), io.StringIO()
        context = Context(self.client, {"limit": None, **options}, Output(out, fmt), io.StringIO(), self.clock, err)
        d: Deferred[None] = ensureDeferred(find(("redrive",)).run(context))  # type: ignore[arg-type]
        failure = d.result if isinstance(d.result, Failure) else None
        d.addErrback(lambda f: None)
        return out.getvalue(), err.getvalue(), failure

    def test_post_partly_fails(self) -> None:
        """A post split in two whose second request fails: the first part moved, one of it duplicated, the rest released."""
        ids = self.post("dlq", *(["x" * 400] * 4))
        self.successResultOf(self.client.queue("jobs").create({"_max_messages_post_size": 1024}))
        target = self.client.queue("jobs", max_post_size=1024)
        real = target.connection.post
        calls: list[int] = []

        def post(path: str, **kw: Any) -> Any:
            calls.append(path == "queues/jobs/messages")
            if sum(calls) > 1 and calls[-1]:
                raise NotFound("Not found", "injected")
            return real(path, **kw)

        self.patch(target.connection, "post", post)
        source = _Queue(self.client.queue("dlq"), fail_delete={ids[0]})
        failed = self.failureResultOf(Deferred.fromCoroutine(redrive(source, target, None)), RedriveFailed).value
        self.patch(target.connection, "post", real)
        posted = self.successResultOf(target.messages())
        self.assertGreater(len(posted), 0)
        self.assertLess(len(posted), 4)
        self.assertEqual(failed.moved, len(posted) - 1)
        self.assertEqual(failed.duplicated, [(ids[0], posted[0].id)])
        self.assertEqual(len(self.successResultOf(self.client.queue("dlq").claim())), 4 - failed.moved)

    def test_command(self) -> None:
        """A summary: a line in a table, an object in JSON."""
        self.post("dlq", "a", "b")
        self.assertEqual(self.command("table", dead_letter_queue="dlq", to="jobs"),
                         ("moved 2 messages from dlq to jobs\n", "", None))
        self.post("dlq", "c")
        out, _, _ = self.command("json", dead_letter_queue="dlq", to="jobs")
        self.assertEqual(json.loads(out), {"moved": 1, "from": "dlq", "to": "jobs"})
        self.assertIsInstance(self.command("json", dead_letter_queue="dlq", to=None)[2].value, usage.UsageError)

    def test_command_names_duplicates(self) -> None:
        """A message posted but not deleted: one stderr line naming it; the summary; the delete's error raised."""
        ids = self.post("dlq", "a", "b")
        real = Queue.delete_message

        def delete_message(queue: Any, message_id: str, claim_id: str | None = None) -> Any:
            if message_id == ids[0]:
                raise NotFound("Not found", "injected")
            return real(queue, message_id, claim_id)

        self.patch(Queue, "delete_message", delete_message)
        out, err, failure = self.command("table", dead_letter_queue="dlq", to="jobs")
        copy = self.successResultOf(self.client.queue("jobs").messages())[0].id
        self.assertEqual(out, "moved 1 message from dlq to jobs\n")
        self.assertEqual(err, f"txzaqar: may be duplicated: message {ids[0]} of dlq (posted to jobs as {copy}, "
                              "not deleted)\n")
        self.assertIsInstance(failure.value, NotFound)

    def test_check(self) -> None:
        self.assertRaises(usage.UsageError, check_redrive, "a", "a", None)
        self.assertRaises(usage.UsageError, check_redrive, "a", "b", 0)
        check_redrive("a", "b", 1)
