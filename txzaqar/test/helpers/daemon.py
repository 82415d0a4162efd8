"""
Run the installed C{twistd zaqar-listen} as an operator does: the
C{twistd} script beside C{sys.executable}, in a working directory of the
test's own, its log read from a file, stopped with SIGTERM; and
C{spawn_twistd}, the one launcher (the installed script, or C{twistd}
run by this Python with the source tree on C{PYTHONPATH} so that handler
modules of the test's directory and of the tree are found); and
C{status_of}, a blocking GET of a daemon's health or metrics page.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import txzaqar
from txzaqar.test.helpers.waiting import wait_until

__all__ = ["RECORDING_HANDLER", "ROOT", "TWISTD", "Daemon", "spawn_twistd", "status_of"]

#: A handler module (write it as C{recording_handler.py} in the daemon's directory) whose
#: C{recording_handler:handle} appends each message's queue and body to C{handled.txt}.
RECORDING_HANDLER = """
def handle(message):
    with open("handled.txt", "a") as f:
        f.write(f"{message.queue.name} {message.body}\\n")
"""

#: The C{twistd} script beside this Python.
TWISTD = str(Path(sys.executable).parent / "twistd")
#: The directory holding the txzaqar package (and twisted/plugins/ next
#: to it); on PYTHONPATH for twistd so that an editable install works too.
ROOT = Path(txzaqar.__file__).resolve().parent.parent


def spawn_twistd(directory: Path, stem: str, args: Sequence[str], env: Mapping[str, str],
                 installed: bool = False) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """
    Start C{twistd -n --pidfile '' --logfile DIRECTORY/STEM.log zaqar-listen
    ARGS} in C{directory}, its output (stdout and stderr) to
    C{DIRECTORY/STEM.out}.

    @param env: the whole environment of the process.
    @param installed: run the C{twistd} script beside C{sys.executable}
        with C{env} as it is (as an operator does); otherwise this Python
        runs twistd with L{ROOT} put first on C{PYTHONPATH}.
    @return: the process and its output file (for the caller to close).
    """
    environment = dict(env)
    if installed:
        command = [TWISTD]
    else:
        command = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT)] + [p for p in [environment.get("PYTHONPATH")] if p])
    command += ["-n", "--pidfile", "", "--logfile", str(Path(directory) / f"{stem}.log"), "zaqar-listen", *args]
    out = open(Path(directory) / f"{stem}.out", "wb")
    process = subprocess.Popen(command, cwd=directory, env=environment, stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT)
    return process, out


class Daemon:
    """
    One C{twistd -n zaqar-listen ...} process.

    @param directory: its working directory (handler modules can live there).
    @param args: the arguments after C{zaqar-listen}.
    @param env: added to (and overriding) this process's environment; the
        C{OS_*} and C{ZAQAR_URL} variables of this process are not passed on.
    """

    def __init__(self, directory: Path, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_path = self.directory / "twistd.log"
        self.out_path = self.directory / "twistd.out"
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ZAQAR_"))}
        environment.update(env or {})
        self.process, self._out = spawn_twistd(self.directory, "twistd", args, environment, installed=True)

    def log(self) -> str:
        """What it logged and printed so far."""
        return "\n".join(p.read_text(errors="replace") for p in (self.log_path, self.out_path) if p.exists())

    def lines(self, level: str | None = None) -> list[str]:
        """Its log lines, or those of one level (C{"warn"}, C{"info"}, ...): twistd writes C{[namespace#level]}."""
        lines = self.log().splitlines()
        return lines if level is None else [line for line in lines if f"#{level}]" in line]

    @property
    def exited(self) -> bool:
        return self.process.poll() is not None

    async def wait_for(self, condition: Callable[[], Any], timeout: float, what: str,
                       may_exit: bool = False) -> None:
        """Poll C{condition} every 0.1 s; fail with the log's tail after C{timeout}."""
        def alive() -> None:
            if self.exited and not may_exit:
                raise AssertionError(f"twistd exited with {self.process.returncode}:\n{self.log()[-3000:]}")

        await wait_until(condition, what, timeout, 0.1, alive=alive, details=lambda: self.log()[-3000:])

    async def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, and wait for the exit; returns the exit status."""
        if not self.exited:
            self.process.send_signal(signal.SIGTERM)
        await self.wait_for(lambda: self.exited, timeout, "twistd to exit after SIGTERM", may_exit=True)
        self._out.close()
        return self.process.returncode

    def kill(self) -> None:
        if not self.exited:
            self.process.kill()
            self.process.wait(10)
        self._out.close()


def status_of(url: str) -> int:
    """The HTTP status of a GET (blocking: run it in a thread)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
