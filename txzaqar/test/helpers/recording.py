"""
What records deliveries and events for a test to read back: C{Recorder}
(a Subscriber callback whose results the test controls), C{RecordingTarget}
(an L{IWakeTarget} that records what it is told), C{Events} (every log
event while a test runs), and C{record}, the handler the C{twistd} tests
run (C{--handler txzaqar.test.helpers.recording:record}), whose file
C{read_record} reads back; C{Recorded}, a test case on the in-memory
Zaqar that records what its client sent; C{BodyRecorder}, an
L{IConnection} that records each request's method, path and body.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.logger import ILogObserver, globalLogPublisher
from twisted.trial import unittest
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from txzaqar.errors import ClientValidationError
from txzaqar.interfaces import IConnection, IWakeTarget
from txzaqar.subscriber import on_reactor
from txzaqar.testing import RecordingAgent, memory_client

__all__ = ["DELAY_ENV", "RECORD_ENV", "BodyRecorder", "Events", "Recorded", "Recorder", "RecordingTarget", "read_record", "record"]


class Recorder:
    """A callback whose results the test controls."""

    def __init__(self, mode: str = "sync") -> None:
        self.mode = mode
        self.seen: list[Any] = []
        self.deferreds: dict[str, Deferred[None]] = {}

    def __call__(self, message: Any) -> Any:
        self.seen.append(message)
        if self.mode == "deferred":
            d: Deferred[None] = Deferred()
            self.deferreds[message.id] = d
            return d
        return None

    def ids(self) -> list[str]:
        return [m.id for m in self.seen]


@implementer(IWakeTarget)
class RecordingTarget:
    """An L{IWakeTarget} that records what it is told, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def wake(self, queue_name: str) -> None:
        self.calls.append(("wake", queue_name))

    def push_up(self, queue_name: str) -> None:
        self.calls.append(("push_up", queue_name))

    def push_down(self, queue_name: str, reason: str) -> None:
        self.calls.append(("push_down", queue_name, reason))

    def of(self, kind: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == kind]


class Events:
    """Every log event emitted while a test runs."""

    def __init__(self, case: unittest.TestCase) -> None:
        self.events: list[dict[str, Any]] = []
        observer = cast(ILogObserver, self.events.append)
        globalLogPublisher.addObserver(observer)
        case.addCleanup(globalLogPublisher.removeObserver, observer)

    def matching(self, prefix: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if str(e.get("log_format", "")).startswith(prefix)
            and all(e.get(k) == v for k, v in fields.items())
        ]

    def count(self, prefix: str, **fields: Any) -> int:
        return len(self.matching(prefix, **fields))


RECORD_ENV = "TXZAQAR_TEST_RECORD"
DELAY_ENV = "TXZAQAR_TEST_DELAY"


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@on_reactor  # it returns a Deferred: not for a thread (the daemon runs plain handlers in threads)
def record(message: Any) -> Any:
    """
    The handler the twistd tests run: appends C{start <id> <pid> <claim>}
    and, after C{$TXZAQAR_TEST_DELAY} seconds, C{done <id> <pid> <claim>}
    to the file C{$TXZAQAR_TEST_RECORD}.
    """
    path = os.environ[RECORD_ENV]
    delay = float(os.environ.get(DELAY_ENV) or 0)
    _append(path, f"start {message.id} {os.getpid()} {message.claim_id}\n")

    def done(_: Any = None) -> None:
        _append(path, f"done {message.id} {os.getpid()} {message.claim_id}\n")

    if delay:
        from twisted.internet import reactor

        return deferLater(reactor, delay, done)
    done()
    return None


def read_record(path: Path) -> list[list[str]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    # only whole lines: a line being written may be seen in part
    return [line.split() for line in text.split("\n")[:-1] if len(line.split()) == 4]


class Recorded(SynchronousTestCase):
    """A test on the in-memory Zaqar whose client's agent records every request (C{self.recorder})."""

    def setUp(self) -> None:
        self.client, self.fake = memory_client()
        self.recorder = RecordingAgent(self.client.connection.agent)
        self.client.connection.agent = self.recorder

    def assertRefused(self, call: Callable[..., Any], field: str, *args: Any, **kwargs: Any) -> ClientValidationError:
        """C{call(*args, **kwargs)} raises L{ClientValidationError} about C{field} and sends nothing."""
        sent = len(self.recorder.requests)
        e = self.assertRaises(ClientValidationError, call, *args, **kwargs)
        self.assertIn(field, str(e))
        self.assertEqual(len(self.recorder.requests), sent, "a request was sent")
        return e


class BodyRecorder:
    """An L{IConnection} that records C{(method, path, body)} and passes each call on."""

    def __init__(self, connection: IConnection) -> None:
        self._connection = connection
        #: C{(method, path, body)} of every request, in order.
        self.calls: list[tuple[str, str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def _record(self, method: str, path: str, **kwargs: Any) -> Deferred[Any]:
        self.calls.append((method, path, kwargs.get("body")))
        return self._connection.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Deferred[Any]:
        return self._record("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Deferred[Any]:
        return self._record("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Deferred[Any]:
        return self._record("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Deferred[Any]:
        return self._record("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Deferred[Any]:
        return self._record("DELETE", path, **kwargs)
