"""
L{txzaqar.api.message.Message}: a frozen snapshot of a message, and its status.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.api.message import MessageStatus
from txzaqar.testing import memory_client


class MessageHashTests(SynchronousTestCase):
    def test_hash_with_dict_body(self) -> None:
        """A message with a dict (or list) body is hashable; equal messages hash alike."""
        client, _ = memory_client()
        queue = client.queue("q")
        self.successResultOf(queue.post([{"body": {"a": [1]}}, {"body": [1, 2]}]))
        messages = self.successResultOf(queue.messages())
        again = self.successResultOf(queue.messages())
        self.assertEqual(len({*messages, *again}), 2)
        self.assertEqual(hash(messages[0]), hash(again[0]))


class PopStatusTests(SynchronousTestCase):
    def test_popped_messages_are_deleted(self) -> None:
        client, _ = memory_client()
        queue = client.queue("q")
        self.successResultOf(queue.post([{"body": 1}, {"body": 2}, {"body": 3}]))
        claim = self.successResultOf(queue.claim(limit=1))
        self.assertEqual([m.status for m in claim], [MessageStatus.CLAIMED])
        self.assertEqual([m.status for m in self.successResultOf(queue.messages())], [MessageStatus.FREE] * 2)
        [popped] = self.successResultOf(queue.pop())
        self.assertEqual(popped.status, MessageStatus.DELETED)
        self.assertTrue(popped.deleted)
        self.assertIn("DELETED", repr(popped))
        self.failureResultOf(popped.reload(), errors.NotFound)
