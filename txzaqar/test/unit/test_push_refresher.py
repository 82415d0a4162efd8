"""
L{txzaqar.push._refresher.TokenRefresher} alone: a L{Clock}, frames
recorded instead of sent, replies played by the test.
"""

from __future__ import annotations

import json
import time
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import alsoProvides

from txzaqar.interfaces import ITokenExpiry
from txzaqar.push import _frames
from txzaqar.push._refresher import TokenRefresher
from txzaqar.test.helpers.websocket import FakeAuth


def reply(status: int) -> _frames.Reply:
    """Zaqar's reply to an C{authenticate}."""
    frame = {"request": {"action": "authenticate", "headers": {}, "api": "v2"},
             "body": {"message": "x"} if status == 200 else {"error": "Authentication failed."},
             "headers": {"status": status}}
    parsed = _frames.parse(json.dumps(frame).encode())
    assert isinstance(parsed, _frames.Reply), parsed
    return parsed


class TokenRefresherTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.auth = FakeAuth(keystone=True)
        self.sent: list[Any] = []
        self.told: list[tuple[str, ...]] = []
        self.refresher = TokenRefresher(self.auth, self.clock, lambda payload: self.sent.append(json.loads(payload)),
                                        ready=lambda: self.told.append(("ready",)),
                                        refused=lambda reason: self.told.append(("refused", reason)))

    def open(self) -> None:
        headers: dict[str, str] = self.successResultOf(self.auth.headers())
        self.refresher.opened(headers)

    def test_without_a_token_ready_at_once(self) -> None:
        self.refresher.opened({"X-Project-ID": "p1"})
        self.assertEqual((self.sent, self.told), ([], [("ready",)]))

    def test_authenticates_then_ready(self) -> None:
        self.open()
        self.assertEqual(self.sent, [{"action": "authenticate",
                                      "headers": {"X-Auth-Token": "token-0", "X-Project-ID": "p1"}}])
        self.assertEqual(self.told, [])
        self.refresher.authenticated(reply(200))
        self.assertEqual(self.told, [("ready",)])

    def test_refused_invalidates(self) -> None:
        self.open()
        self.refresher.authenticated(reply(401))
        self.assertEqual(self.told, [("refused", "authentication refused: 401 Authentication failed.")])
        self.assertEqual(self.auth.invalidated[-1]["X-Auth-Token"], "token-0")

    def test_new_token_before_a_told_expiry(self) -> None:
        alsoProvides(self.auth, ITokenExpiry)
        self.auth.token_expires_at = time.time() + 200  # type: ignore[attr-defined]
        self.open()
        self.refresher.authenticated(reply(200))
        self.refresher.schedule()
        self.sent.clear()
        self.clock.advance(149)
        self.assertEqual(self.sent, [])
        self.clock.advance(2)
        [frame] = self.sent
        self.assertEqual(frame["headers"]["X-Auth-Token"], "token-1")
        self.refresher.authenticated(reply(200))
        self.assertEqual(self.refresher.headers["X-Auth-Token"], "token-1")

    def test_forget_cancels_the_refresh(self) -> None:
        alsoProvides(self.auth, ITokenExpiry)
        self.auth.token_expires_at = time.time() + 200  # type: ignore[attr-defined]
        self.open()
        self.refresher.authenticated(reply(200))
        self.refresher.schedule()
        self.refresher.forget()
        self.sent.clear()
        invalidated = len(self.auth.invalidated)
        self.clock.advance(1000)
        self.assertEqual((self.sent, len(self.auth.invalidated)), ([], invalidated))

    def test_expired_learns_and_invalidates(self) -> None:
        self.open()
        self.refresher.authenticated(reply(200))
        self.refresher.expired()  # token-0 was not fresh: nothing learned
        self.refresher.forget()
        self.assertEqual(self.auth.invalidated[-1]["X-Auth-Token"], "token-0")
        self.open()  # token-1: fresh
        self.refresher.authenticated(reply(200))
        self.clock.advance(100)
        self.refresher.expired()
        self.refresher.forget()
        self.open()  # token-2
        self.refresher.authenticated(reply(200))
        self.refresher.schedule()
        self.sent.clear()
        self.clock.advance(75)
        [frame] = self.sent
        self.assertEqual(frame["headers"]["X-Auth-Token"], "token-3")
