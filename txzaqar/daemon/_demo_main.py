"""
``python -m txzaqar.demo``: the README's first command.

Starts a local real Zaqar (Redis + Zaqar under gunicorn and its WebSocket
transport, through L{txzaqar.testing}), runs C{twistd -n zaqar-listen
--push websocket} against it with the demo handler L{txzaqar.demo.show},
waits for push to come up, posts a few messages with the txzaqar client,
shows the daemon delivering them (one of them fails once and is delivered
again), then stops the daemon with SIGTERM and the servers.  Exits 0 when
every message was delivered, the queue ended empty and twistd stopped
cleanly; 1 otherwise.

This is a command-line driver, not library code: it may block before the
reactor runs (starting the servers) and print to the terminal.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import txzaqar

PROJECT = "demo"
ROOT = Path(txzaqar.__file__).resolve().parent.parent


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def twistd_command(url: str, queue: str, websocket_url: str | None = None) -> list[str]:
    """
    The daemon command line (twistd run from this interpreter); with
    C{websocket_url}, woken by Zaqar's WebSocket notifications.
    """
    return [
        sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
        "-n", "--pidfile", "", "--logfile", "-",
        "zaqar-listen", "--url", url, "--project-id", PROJECT, "--queue", queue,
        "--handler", "txzaqar.demo:show", "--poll-interval", "0.2", "--max-interval", "1",
        *(["--push", "websocket", "--websocket-url", websocket_url] if websocket_url else []),
    ]


class _Daemon:
    """Spawns twistd, echoes its log lines, counts deliveries."""

    def __init__(self, reactor: Any, argv: list[str]) -> None:
        from twisted.internet.defer import Deferred
        from twisted.internet.protocol import ProcessProtocol

        self.lines: list[str] = []
        self.ended: Deferred[int | str] = Deferred()
        daemon = self

        class Protocol(ProcessProtocol):
            buffer = b""

            def outReceived(self, data: bytes) -> None:
                self.buffer += data
                *complete, self.buffer = self.buffer.split(b"\n")
                for raw in complete:
                    line = raw.decode("utf-8", "replace")
                    daemon.lines.append(line)
                    print(f"  twistd | {line}", flush=True)

            errReceived = outReceived

            def processEnded(self, reason: Any) -> None:
                value = reason.value
                daemon.ended.callback(value.exitCode if value.exitCode is not None else f"signal {value.signal}")

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        self.transport = reactor.spawnProcess(Protocol(), argv[0], argv, env=env, path=os.getcwd())

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


async def _wait_until(reactor: Any, condition: Any, timeout: float) -> bool:
    from twisted.internet.task import deferLater

    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            return False
        await deferLater(reactor, 0.1, lambda: None)
    return True


async def _demo(reactor: Any, url: str, count: int, timeout: float, websocket_url: str | None) -> int:
    queue_name = f"demo-{uuid.uuid4().hex[:8]}"
    client = txzaqar.connect(url, project_id=PROJECT, reactor=reactor)
    queue = await client.create_queue(queue_name)
    argv = twistd_command(url, queue_name, websocket_url)
    say("starting the daemon:\n    twistd " + " ".join(argv[3:]))
    daemon = _Daemon(reactor, argv)
    ok = False
    try:
        started = await _wait_until(
            reactor, lambda: daemon.count("subscriber started") or daemon.ended.called, timeout
        )
        if not started or daemon.ended.called:
            say("twistd did not start")
            return 1
        if websocket_url:
            pushing = await _wait_until(
                reactor, lambda: daemon.count("WebSocket push up") or daemon.ended.called, timeout
            )
            if not pushing or daemon.ended.called:
                say("the daemon's WebSocket push did not come up")
                return 1
            say("push is up: each post wakes the daemon at once (polling every 300 s is the safety net)")
        bodies: list[Any] = [{"greeting": "hello", "n": n} for n in range(1, count + 1)]
        bodies.append({"greeting": "I fail once, then I am delivered again", "fail": True})
        say(f"posting {len(bodies)} messages to {queue_name} with txzaqar")
        for body in bodies[:-1]:  # one at a time, to show each one's delay
            await queue.post({"body": dict(body, posted_at=time.time()), "ttl": 600})
        await queue.post({"body": bodies[-1], "ttl": 600})
        expected = len(bodies) + 1  # the failing one is delivered twice

        async def drained() -> bool:
            return (await queue.stats()).total == 0

        delivered = await _wait_until(
            reactor, lambda: daemon.count("delivered from") >= expected or daemon.ended.called, timeout
        )
        empty = False
        if delivered and not daemon.ended.called:
            deadline = reactor.seconds() + timeout
            while not (empty := await drained()) and reactor.seconds() < deadline:
                await _wait_until(reactor, lambda: False, 0.2)
        say(f"{daemon.count('delivered from')} deliveries of {len(bodies)} messages "
            f"({daemon.count('callback failed')} failed and redelivered); queue empty: {empty}")
        ok = delivered and empty
    finally:
        if not daemon.ended.called:
            say("stopping the daemon (SIGTERM)")
            daemon.transport.signalProcess("TERM")
        exit_code = await _with_deadline(reactor, daemon.ended, timeout)
        if exit_code is _TIMED_OUT:
            say("twistd did not stop; killing it")
            daemon.transport.signalProcess("KILL")
            exit_code = await daemon.ended
        await queue.delete()
        await client.close()
    # twistd re-raises the signal that stopped it once it has shut down.
    stopped = exit_code in (0, f"signal {signal.SIGTERM.value}") and daemon.count("subscriber stopped") == 1
    say(f"twistd exited with {exit_code}; stopped cleanly: {stopped}")
    return 0 if ok and stopped else 1


_TIMED_OUT = object()


async def _with_deadline(reactor: Any, d: Any, timeout: float) -> Any:
    if not await _wait_until(reactor, lambda: d.called, timeout):
        return _TIMED_OUT
    return await d


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m txzaqar.demo", description=__doc__.split("\n\n")[1])
    parser.add_argument("--url", help="use this running Zaqar (noauth) instead of starting one")
    parser.add_argument("--mode", choices=("gunicorn", "builtin"), default="gunicorn",
                        help="how to run the local Zaqar [default: gunicorn]")
    parser.add_argument("--websocket-url", help="with --url: that Zaqar's WebSocket transport, for push")
    parser.add_argument("--no-push", action="store_true",
                        help="poll only (by default the local Zaqar runs its WebSocket transport too)")
    parser.add_argument("--messages", type=int, default=5, help="messages to post [default: 5]")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per step [default: 120]")
    args = parser.parse_args(argv)

    if args.websocket_url and not args.url:
        parser.error("--websocket-url goes with --url (without --url the demo starts its own)")
    servers = None
    url, websocket_url = args.url, args.websocket_url
    if url is None:
        from txzaqar.testing.servers import ServerSet

        push = not args.no_push
        say(f"starting Redis and Zaqar ({args.mode}{' and its WebSocket transport' if push else ''}); "
            "the first run builds their virtualenv")
        started = time.monotonic()
        servers = ServerSet(mode=args.mode, push=push)
        servers.start()
        assert servers.zaqar is not None
        url = servers.zaqar.url
        websocket_url = servers.zaqar.websocket_url if push else None
        say(f"Zaqar is answering at {url}{f' and {websocket_url}' if websocket_url else ''} "
            f"(after {time.monotonic() - started:.1f}s)")
    try:
        from twisted.internet import reactor
        from twisted.internet.defer import Deferred

        result: list[int] = []

        def failed(failure: Any) -> int:
            failure.printTraceback()
            return 1

        def finished(code: int) -> None:
            result.append(code)
            reactor.stop()

        def run() -> None:
            d = Deferred.fromCoroutine(_demo(reactor, url, args.messages, args.timeout, websocket_url))
            d.addErrback(failed).addCallback(finished)

        reactor.callWhenRunning(run)
        reactor.run()
        code = result[0] if result else 1
    finally:
        if servers is not None:
            say("stopping Zaqar and Redis")
            servers.stop()
    say("done: OK" if code == 0 else "done: FAILED")
    return code
