"""
L{txzaqar.api.claim.Claim}: what an update of a claim sends.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.trial.unittest import SynchronousTestCase

from txzaqar.api.queue import Queue
from txzaqar.interfaces import IConnection
from txzaqar.test.helpers.recording import BodyRecorder
from txzaqar.testing import memory_client


class ClaimPatchTests(SynchronousTestCase):
    """C{Claim.patch} sends what the caller gave and what the claim knows, never a made-up grace."""

    def setUp(self) -> None:
        client, _ = memory_client()
        self.recorder = BodyRecorder(client.connection)
        self.queue = Queue(cast(IConnection, self.recorder), "q")
        self.successResultOf(self.queue.post({"body": 1}))

    def patches(self) -> list[Any]:
        return [body for method, _, body in self.recorder.calls if method == "PATCH"]

    def test_claim_from_get_claim_sends_no_grace(self) -> None:
        claim = self.successResultOf(self.queue.claim(grace=300))
        again = self.successResultOf(self.queue.get_claim(cast(str, claim.id)))
        self.assertIsNone(again.grace)
        renewed = self.successResultOf(again.patch(ttl=120))
        self.assertEqual(self.patches(), [{"ttl": 120}])
        self.assertEqual((renewed.ttl, renewed.grace), (120, 60))  # what the server now has

    def test_known_and_given_values_sent(self) -> None:
        claim = self.successResultOf(self.queue.claim(ttl=100, grace=300))
        self.successResultOf(claim.patch(ttl=120))
        self.successResultOf(claim.patch(grace=90))
        again = self.successResultOf(self.queue.get_claim(cast(str, claim.id)))
        self.successResultOf(again.patch(grace=90))
        self.assertEqual(self.patches(), [{"ttl": 120, "grace": 300}, {"ttl": 100, "grace": 90},
                                          {"ttl": again.ttl, "grace": 90}])
