"""
L{txzaqar.api.subscription}: a subscription's arguments checked before anything is sent.
"""

from __future__ import annotations

from txzaqar.test.helpers.recording import Recorded


class SubscriptionChecksTests(Recorded):
    def test_subscriber_needs_a_host(self) -> None:
        queue = self.client.queue("q")
        for bad in ("http://", "https://", "trust+http://", "trust+https://", "http:///path", "mailto:",
                    "http://:80", "http://[::1", "http://x:notaport"):
            self.assertRefused(queue.subscribe, "subscriber", bad)
        for good in ("http://x", "https://example.com:8443/hook?a=1", "mailto:ops@example.com",
                     "trust+http://10.0.0.1/h"):
            self.successResultOf(queue.subscribe(good))

    def test_dead_letter_queue_is_not_the_queue(self) -> None:
        queue = self.client.queue("q")
        self.assertRefused(queue.configure, "dead_letter_queue", dead_letter_queue="q", max_claim_count=2)
        self.successResultOf(queue.configure(dead_letter_queue="q-dead", max_claim_count=2))
