"""
L{txzaqar.push.backoff}: the WebSocket's reconnect delays.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.push.backoff import ReconnectDelay


class ReconnectDelayTests(SynchronousTestCase):
    def test_doubles_to_the_cap_and_resets(self) -> None:
        delays = ReconnectDelay(0.5, 3.0, lambda: 0.0)
        self.assertEqual([delays.next() for _ in range(5)], [0.5, 1.0, 2.0, 3.0, 3.0])
        delays.reset()
        self.assertEqual(delays.next(), 0.5)

    def test_jitter(self) -> None:
        values = iter([0.0, 0.5, 1.0, 7.0, -3.0])
        delays = ReconnectDelay(4.0, 4.0, lambda: next(values))
        self.assertEqual([delays.next() for _ in range(5)], [4.0, 3.5, 3.0, 3.0, 4.0])

    def test_many_failures_do_not_overflow(self) -> None:
        delays = ReconnectDelay(1.0, 30.0, lambda: 0.0)
        for _ in range(5000):
            delays.next()
        self.assertEqual(delays.next(), 30.0)
