"""
L{txzaqar.api.client.Client}: the queues it lists, against the in-memory Zaqar.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txzaqar import errors
from txzaqar.testing import memory_client


class ListedNameTests(SynchronousTestCase):
    def test_unaddressable_listed_name_is_malformed(self) -> None:
        """
        A name the server lists but no Queue can have (Zaqar on Redis lists
        a queue named C{"."} as C{""}) is a L{MalformedResponse} naming the
        item, not a L{ClientValidationError} about an argument never given.
        """
        client, fake = memory_client()
        self.successResultOf(client.connection.put("queues/."))
        self.assertEqual(fake.queue_names("test"), ["."])
        e = self.failureResultOf(client.queues(), errors.MalformedResponse).value
        self.assertIn("'name': ''", e.description)
