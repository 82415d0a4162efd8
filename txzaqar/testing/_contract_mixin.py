"""
What the contract suite's mixins (L{txzaqar.testing._contract_messages} and
its siblings) share: their base class, which tells the type checker that
they are mixed into the suite's C{TestCase} and have its helpers, and the
decorator of the tests that assert a server quirk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import SkipTest, TestCase

__all__ = ["HOOK", "MAX_POST_SIZE", "QUIRK_REASON", "ContractMixin", "server_quirk"]

#: The server's post size limit (C{max_messages_post_size}).
MAX_POST_SIZE = 262144

#: A subscriber nobody listens on (no notification pipeline in the tests).
HOOK = "http://127.0.0.1:9/hook"

#: Why a quirk test skips on a backend without Zaqar 23.0.1's quirks.
QUIRK_REASON = "asserts a Zaqar 23.0.1 server quirk this backend does not claim to have"

if TYPE_CHECKING:
    class ContractMixin(TestCase):
        """A mixin of the contract suite, as the type checker sees it."""

        #: Whether the backend has Zaqar 23.0.1's quirks.
        server_quirks: bool
        #: The client under test.
        client: Any

        def __getattr__(self, name: str) -> Any:
            """The suite's helpers (C{queue}, C{created}, C{count_requests}, C{refused}, ...)."""
else:
    class ContractMixin:
        """A mixin of the contract suite: mixed into its C{TestCase}, not a test case by itself."""


def server_quirk(f: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """Run the test only against a backend that has the server's quirks (L{txzaqar.testing.quirks})."""

    @functools.wraps(f)
    async def test(self: Any) -> Any:
        if not self.server_quirks:
            raise SkipTest(QUIRK_REASON)
        return await f(self)

    return test
