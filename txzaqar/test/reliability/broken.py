"""
C{python -m txzaqar.test.reliability.broken [OPTIONS]}: show that the suite
can fail.  Runs C{python -m txzaqar.test.reliability --break OPTIONS}
(default options C{--only acks}: the library's acknowledgement retries
removed, 60 % of the acknowledging DELETEs stopped) and exits 0 only when
that run FAILED and its report names the acknowledgements lost before
their retries ran out; exits 1 when the suite passed (it missed the
regression) or failed for another reason.  Run by C{tox -e faults} after
the suite itself.
"""

from __future__ import annotations

import subprocess
import sys

from .tracing import LOST_WITH_RETRIES_LEFT

#: The options the broken run gets when none are given.
DEFAULT_OPTIONS = ["--only", "acks"]
#: Seconds the broken run may take (it stops early once the loss is seen).
TIMEOUT = 600


def judge(returncode: int, output: str) -> str | None:
    """
    Whether the broken run did what it must: C{None} when it failed (exit 1)
    with a C{FAILED:} line naming the acknowledgements lost before their
    retries ran out; else what is wrong, one line.
    """
    named = [line for line in output.splitlines() if line.startswith("FAILED: ") and LOST_WITH_RETRIES_LEFT in line]
    if returncode == 0:
        return "the suite PASSED with the acknowledgement retries removed: it does not catch the regression"
    if returncode != 1:
        return f"the suite exited {returncode}, not 1 (a crash, not a report)"
    if not named:
        return f"the suite failed, but no FAILED line names the {LOST_WITH_RETRIES_LEFT}"
    return None


def main(argv: list[str] | None = None) -> int:
    options = (sys.argv[1:] if argv is None else argv) or DEFAULT_OPTIONS
    command = [sys.executable, "-m", "txzaqar.test.reliability", "--break", *options]
    print(f"[reliability.broken] {' '.join(command[1:])} (must fail)", flush=True)
    try:
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as e:
        output = e.output or b""
        print(output.decode("utf-8", "replace") if isinstance(output, bytes) else output, end="")
        print(f"[reliability.broken] FAILED: the broken run did not finish within {TIMEOUT} s")
        return 1
    print(run.stdout, end="", flush=True)
    wrong = judge(run.returncode, run.stdout)
    if wrong is not None:
        print(f"[reliability.broken] FAILED: {wrong}")
        return 1
    print(f"[reliability.broken] PASSED: with its acknowledgement retries removed the suite failed, "
          f"reporting the {LOST_WITH_RETRIES_LEFT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
