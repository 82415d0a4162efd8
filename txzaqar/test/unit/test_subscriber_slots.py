"""
L{txzaqar.subscriber.slots}: which callbacks run on the reactor and which in a thread.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from twisted.trial import unittest

from txzaqar.subscriber import on_reactor
from txzaqar.subscriber.slots import runs_on_reactor
from txzaqar.test.helpers.recording import Recorder
from txzaqar.test.helpers.subscriber import (
    AsyncCallable,
    Handlers,
    async_handler,
    marked_handler,
    plain_handler,
)


class RunsOnReactorTests(unittest.SynchronousTestCase):
    def test_reactor_callbacks(self) -> None:
        """async def, marked ones, through partial and bound methods, run on the reactor."""
        handlers = Handlers()
        for callback in (async_handler, marked_handler, partial(async_handler),
                         partial(partial(marked_handler)), handlers.async_method,
                         handlers.marked_method, AsyncCallable()):
            with self.subTest(callback=callback):
                self.assertTrue(runs_on_reactor(callback))

    def test_plain_callbacks(self) -> None:
        for callback in (plain_handler, lambda m: None, partial(plain_handler),
                         Handlers().plain_method, Recorder(), print):
            with self.subTest(callback=callback):
                self.assertFalse(runs_on_reactor(callback))

    def test_on_reactor_returns_the_function(self) -> None:
        def f(message: Any) -> None:
            pass

        self.assertIs(on_reactor(f), f)
