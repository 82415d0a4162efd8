"""
Against a real Zaqar 23.0.1 with a C{[signed_url] secret_key} (the shared
test server has one): a consumer with nothing but a signed URL (the
Subscriber, and C{twistd zaqar-listen --signed-url-file}), requests the
URL does not name refused before sending, an expired URL; and a lazy walk
of a 2,000-message queue.

No fixed sleeps: every wait polls a condition, with a generous deadline.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.trial import unittest

from txzaqar import connect, errors
from txzaqar.auth import SignedURLAuth
from txzaqar.errors import NotAllowedBySignedURL, SignedURLExpired
from txzaqar.subscriber import Subscriber
from txzaqar.test.helpers.daemon import spawn_twistd
from txzaqar.test.helpers.recording import RECORD_ENV, read_record
from txzaqar.test.helpers.waiting import wait_until
from txzaqar.testing import RecordingAgent
from txzaqar.testing.servers import shared_zaqar

CONSUMER: dict[str, Any] = {"paths": ["messages", "claims"], "methods": ["POST", "PATCH", "DELETE"]}
#: How long the URLs of the expiry test are valid (seconds), tried in turn
#: until one is used before it expires.
URL_WINDOWS = (3, 6, 12, 24, 48)


async def wait_for(testcase: unittest.TestCase, condition: Any, timeout: float, what: str) -> None:
    await wait_until(condition, what, timeout, 0.05)

def seconds_left(signed: Any) -> float:
    """Seconds until C{signed} (a C{SignedURL}) expires; negative once it has."""
    expires = datetime.datetime.fromisoformat(signed.expires.replace("Z", "+00:00"))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=datetime.UTC)
    return (expires - datetime.datetime.now(datetime.UTC)).total_seconds()


def record(client: Any) -> RecordingAgent:
    conn: Any = client.connection
    recorder = RecordingAgent(conn.agent)
    conn.agent = recorder
    return recorder


class RealSignedURLTests(unittest.TestCase):
    timeout = 300

    def setUp(self) -> None:
        self.zaqar = shared_zaqar()
        self.project = f"txzaqar-signed-{uuid.uuid4().hex[:8]}"
        self.client = connect(self.zaqar.url, project_id=self.project, reactor=reactor)
        self.addCleanup(self.client.close)

    async def shared_queue(self, **share: Any) -> tuple[Any, Any]:
        queue = self.client.queue(f"shared-{uuid.uuid4().hex[:12]}")
        self.addCleanup(queue.delete)
        await queue.create()
        signed = await queue.share(**share)
        return queue, signed

    def signed_client(self, signed: Any) -> Any:
        # what a third party gets: one JSON document, Zaqar's URL included
        document = json.dumps(signed.to_json(self.zaqar.url))
        client = connect(signed_url=document, reactor=reactor)
        self.addCleanup(client.close)
        return client

    async def test_subscriber_on_a_shared_queue(self) -> None:
        """Post, claim and delete through a Subscriber with the signed URL only; nothing else is sent."""
        queue, signed = await self.shared_queue(**CONSUMER)
        client = self.signed_client(signed)
        recorder = record(client)
        shared = client.queue(queue.name)
        ids = await shared.post([{"body": n} for n in range(30)])
        seen: list[str] = []
        sub = Subscriber(client, clock=reactor, batch=10, poll_interval=0.1, max_interval=0.5,
                         close_client=False)
        sub.subscribe(queue.name, lambda message: seen.append(message.id))
        sub.startService()
        self.addCleanup(lambda: sub.stopService() if sub.running else None)
        await wait_for(self, lambda: len(seen) >= 30, 120, "30 callbacks")
        await sub.stopService()
        self.assertEqual(Counter(seen), Counter(ids))
        stats = await queue.stats()
        self.assertEqual(stats.total, 0, "every message deleted")
        for r in recorder.requests:
            self.assertIn(r.method, signed.methods)
            self.assertTrue(any(r.path.startswith(p) for p in signed.paths), r.path)
        sent = {(r.method, r.path) for r in recorder.requests}
        self.assertIn(("POST", f"/v2/queues/{queue.name}/claims"), sent)
        self.assertIn(("DELETE", f"/v2/queues/{queue.name}/messages"), sent)
        # outside the URL: refused before sending
        before = len(recorder.requests)
        for d in (shared.messages(), shared.subscriptions(), client.queue("elsewhere").post({"body": 1}),
                  client.queues()):
            try:
                await d
            except NotAllowedBySignedURL:
                pass
            else:
                self.fail("not refused")
        self.assertEqual(len(recorder.requests), before)

    async def test_expired_url(self) -> None:
        """
        Usable until it expires; then refused client-side (the server would
        answer 404).  A URL valid for a few seconds must be shared and used
        in that time: when this machine is slower than that (the use comes
        too late), a URL valid twice as long is tried, so what is proven
        does not depend on its speed.
        """
        queue = self.client.queue(f"shared-{uuid.uuid4().hex[:12]}")
        self.addCleanup(queue.delete)
        await queue.create()
        for window in URL_WINDOWS:
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=window)
            signed = await queue.share(paths=["messages"], methods=["POST"], expires=expires)
            client = self.signed_client(signed)
            shared = client.queue(queue.name)
            recorder = record(client)
            auth: Any = client.connection.authenticator
            try:
                await shared.post({"body": "in time"})
            except (SignedURLExpired, errors.NotFound):
                # refused before it was sent, or by Zaqar (404) as it expired on the way
                if seconds_left(signed) > 1.0:
                    raise
                continue  # expired before it was used: a longer one
            break
        else:
            self.fail(f"no URL (valid up to {URL_WINDOWS[-1]}s) could be used before it expired")
        await wait_for(self, lambda: auth.expired, window + 60, "the URL to expire")
        before = len(recorder.requests)
        try:
            await shared.post({"body": "too late"})
        except SignedURLExpired as e:
            self.assertEqual(e.expires, signed.expires)
        else:
            self.fail("an expired URL was used")
        self.assertEqual(len(recorder.requests), before)

        class Unchecked(SignedURLAuth):
            def check(self, method: str, path: str) -> None:
                pass

        server_view = connect(self.zaqar.url, authenticator=Unchecked(signed, clock=reactor), reactor=reactor)
        self.addCleanup(server_view.close)
        try:
            await server_view.queue(queue.name).post({"body": "too late"})
        except errors.NotFound as e:
            self.assertEqual(e.code, 404)
        else:
            self.fail("the server took an expired URL")
        self.assertEqual([m.body for m in await queue.messages()], ["in time"])


class RealLargeListingTests(unittest.TestCase):
    """A lazy walk of a 2,000-message queue."""

    timeout = 600

    async def test_2000_messages_a_page_at_a_time(self) -> None:
        zaqar = shared_zaqar()
        client = connect(zaqar.url, project_id=f"txzaqar-list-{uuid.uuid4().hex[:8]}", reactor=reactor)
        self.addCleanup(client.close)
        queue = client.queue(f"big-{uuid.uuid4().hex[:12]}")
        self.addCleanup(queue.delete)
        posted: list[str] = []
        for start in range(0, 2000, 20):
            posted += await queue.post([{"body": n} for n in range(start, start + 20)])
        recorder = record(client)

        listing = queue.iter_messages(limit=20)
        walked: list[str] = []
        async for message in listing:
            walked.append(message.id)
            self.assertLessEqual(len(listing._buffer), 20, "more than one page held")
            if len(walked) == 500:
                break
        self.assertEqual(len(recorder.requests), 25, "one request per page of 20, none ahead")
        self.assertEqual(walked, posted[:500])
        # stopping fetches nothing more
        await listing.aclose()
        self.assertEqual([m async for m in listing], [])
        self.assertEqual(len(recorder.requests), 25)

        # resume from the saved marker
        rest = [m.id async for m in queue.iter_messages(limit=20, marker=listing.marker)]
        self.assertEqual(walked + rest, posted)
        self.assertLessEqual(len(recorder.requests), 25 + 76)

        # the marker quirk: a marker at rank 0 restarts the server's listing;
        # the walk neither loops nor repeats
        before = len(recorder.requests)
        after_first = [m.id async for m in queue.iter_messages(limit=20, marker=posted[0])]
        self.assertEqual(after_first, posted[1:])
        self.assertLessEqual(len(recorder.requests) - before, 101)
        # and limit=1 pages end too (the first page asks for 2)
        few = [m.id async for m in queue.iter_messages(limit=1, max_items=5)]
        self.assertEqual(few, posted[:5])


class SignedURLDaemonTests(unittest.TestCase):
    """C{twistd zaqar-listen --signed-url-file} and nothing else."""

    timeout = 300

    def setUp(self) -> None:
        self.zaqar = shared_zaqar()
        self.client = connect(self.zaqar.url, project_id=f"txzaqar-sd-{uuid.uuid4().hex[:8]}",
                              reactor=reactor)
        self.addCleanup(self.client.close)
        self.dir = Path(self.mktemp()).resolve()
        self.dir.mkdir(parents=True)

    def spawn(self, signed_url_file: Path, record_file: Path) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("OS_") or k in ("ZAQAR_URL", "TXZAQAR_ZAQAR_URL"))}
        env[RECORD_ENV] = str(record_file)
        args = [
            "--signed-url-file", str(signed_url_file),
            "--handler", "txzaqar.test.helpers.recording:record",
            "--poll-interval", "0.2", "--max-interval", "1",
        ]
        proc, out = spawn_twistd(self.dir, "twistd", args, env)
        self.addCleanup(out.close)

        def kill() -> None:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

        self.addCleanup(kill)
        return proc

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.dir / "twistd.log", self.dir / "twistd.out")
                         if p.exists())

    async def test_daemon_consumes_a_shared_queue(self) -> None:
        queue = self.client.queue(f"shared-{uuid.uuid4().hex[:12]}")
        self.addCleanup(queue.delete)
        ids = set(await queue.post([{"body": n} for n in range(50)]))
        signed = await queue.share(**CONSUMER)
        signed_url_file = self.dir / "signed-url.json"
        signed_url_file.write_text(json.dumps(signed.to_json(self.zaqar.url)))
        record_file = self.dir / "record.txt"
        proc = self.spawn(signed_url_file, record_file)

        def done() -> list[list[str]]:
            return [r for r in read_record(record_file) if r[0] == "done"]

        def finished() -> bool:
            if proc.poll() is not None:
                self.fail(f"twistd exited with {proc.returncode}:\n{self.log()[-3000:]}")
            return len(done()) >= 50

        await wait_for(self, finished, 120, "50 messages processed")
        proc.send_signal(signal.SIGTERM)
        await wait_for(self, lambda: proc.poll() is not None, 90, "twistd to exit")
        log = self.log()
        self.assertIn(proc.returncode, (0, -signal.SIGTERM), log[-3000:])
        self.assertNotIn("Traceback", log, log[-3000:])
        self.assertNotIn(signed.signature, log)
        self.assertEqual(Counter(r[1] for r in done()), Counter({i: 1 for i in ids}))
        self.assertEqual((await queue.stats()).total, 0)
