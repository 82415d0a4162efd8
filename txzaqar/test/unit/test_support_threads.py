"""
L{txzaqar._support.threads}: the one owned thread pool.
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase

from txzaqar._support.threads import OwnedThreadPool, RunInThread, stop_in_background


class OwnedTests(SynchronousTestCase):
    def test_start_and_stop(self) -> None:
        """L{OwnedThreadPool.start} starts the pool, L{OwnedThreadPool.stop} stops it (joined off-thread)."""
        threads = OwnedThreadPool(None, "txzaqar-test", maxthreads=3)
        pool = threads.pool
        assert pool is not None
        self.assertEqual((threads.owned, threads.running, pool.started, pool.max, pool.name),
                         (True, False, False, 3, "txzaqar-test"))
        threads.start()
        self.assertEqual((threads.running, pool.started), (True, True))
        threads.start()  # again: nothing
        self.assertIs(threads.pool, pool)
        threads.stop()
        self.assertFalse(threads.running)
        self.assertIs(threads.pool, pool)  # the last one stopped, until the next start
        threads.stop()  # again: nothing

    def test_restart_makes_a_new_pool(self) -> None:
        """A start after a stop starts a new pool: the old one may still be joining its threads."""
        threads = OwnedThreadPool(None, "txzaqar-test")
        threads.start()
        first = threads.pool
        threads.stop()
        threads.start()
        self.addCleanup(threads.stop)
        self.assertIsNot(threads.pool, first)
        assert threads.pool is not None
        self.assertTrue(threads.pool.started)

    def test_stop_before_start(self) -> None:
        """Stopping a pool never started does nothing."""
        threads = OwnedThreadPool(None, "txzaqar-test")
        threads.stop()
        self.assertFalse(threads.running)

    def test_daemon_threads(self) -> None:
        """With C{daemon=True} the pool's threads are daemon threads."""
        pool = OwnedThreadPool(None, "txzaqar-test", daemon=True).pool
        assert pool is not None
        self.assertTrue(pool.threadFactory(target=lambda: None).daemon)
        plain = OwnedThreadPool(None, "txzaqar-test").pool
        assert plain is not None
        self.assertFalse(plain.threadFactory(target=lambda: None).daemon)


class GivenTests(SynchronousTestCase):
    def test_calls_go_to_the_given_function(self) -> None:
        """With C{run_in_thread}, no pool: every call goes there, start and stop do nothing."""
        calls: list[tuple[Any, ...]] = []

        def run(f: Any, *args: Any) -> Deferred[Any]:
            calls.append(args)
            return succeed(f(*args))

        given: RunInThread = run
        threads = OwnedThreadPool(None, "txzaqar-test", run_in_thread=given)
        self.assertEqual((threads.owned, threads.running, threads.pool), (False, True, None))
        threads.start()
        self.assertIsNone(threads.pool)
        self.assertEqual(self.successResultOf(threads.run(lambda a, b: a + b, 2, 3)), 5)
        threads.stop()
        self.assertEqual((calls, threads.running), ([(2, 3)], True))


class RunTests(TestCase):
    async def test_runs_in_a_thread_of_the_pool(self) -> None:
        """L{OwnedThreadPool.run} runs the call in one of the pool's threads and fires with its result."""
        from twisted.internet import reactor

        threads = OwnedThreadPool(reactor, "txzaqar-test-run")
        threads.start()
        self.addCleanup(threads.stop)
        name = await threads.run(lambda suffix: threading.current_thread().name + suffix, "!")
        self.assertIn("txzaqar-test-run", name)
        self.assertTrue(name.endswith("!"), name)
        self.assertNotEqual(threading.current_thread().name + "!", name)

    def test_stop_in_background_returns_at_once(self) -> None:
        """L{stop_in_background} stops the pool in a thread of its own."""
        stopped = threading.Event()

        class Pool:
            name = "p"

            def stop(self) -> None:
                stopped.set()

        stop_in_background(Pool())  # type: ignore[arg-type]
        self.assertTrue(stopped.wait(10))
