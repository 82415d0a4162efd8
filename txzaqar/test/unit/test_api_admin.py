"""
L{txzaqar.api.admin}: pools and flavors, against the in-memory Zaqar.
"""

from __future__ import annotations

from txzaqar.test.helpers.recording import Recorded


class AdminNameTests(Recorded):
    """
    C{client.pool("bad name")} was reported as accepted: it is, rightly.
    Zaqar takes any pool or flavor name that is one path segment (a space,
    C{%} or C{é} too: C{test_admin_real.test_name_is_one_path_segment}
    round-trips C{"f 1%41"} through a real server), and the client sends it
    percent-encoded, never as a raw space in a URL.  What cannot be one
    segment is refused.
    """

    def test_refused(self) -> None:
        for name in ("", "a/b", "a?b", "a#b", 5, None, "bad name", "p\u00e9", "x" * 65, "a.b", "%41"):
            self.assertRefused(self.client.pool, "pool name", name)
            self.assertRefused(self.client.flavor, "flavor name", name)
            self.assertRefused(self.client.create_pool, "pool name", name, "redis://x", 1)
            self.assertRefused(self.client.create_flavor, "flavor name", name, ["p"])
            self.assertRefused(self.client.create_flavor, "pool", "f", [name])
            if name is not None:  # no flavor
                self.assertRefused(self.client.create_pool, "flavor", "p", "redis://x", 1, flavor=name)

    def test_accepted(self) -> None:
        """The rule does not over-refuse: one character, every allowed kind, 64 characters."""
        for name in ("a", "A-b_9", "x" * 64):
            self.assertEqual(self.client.pool(name).name, name)
            self.assertEqual(self.client.flavor(name).name, name)
