"""
The benchmark's gate, shown to fail: ``python -m bench.gate_check``.

Runs the benchmark at smoke size with ``--break-delivery`` (the Subscriber
latency driver drops the first message it gets: acknowledged, never
recorded) on the one variant it needs, and exits 0 only if the benchmark
caught it: exit status L{verdict.EXIT_BROKEN}, and its results name
exactly that lost message and nothing else.  Seconds, not minutes: one
push-capable gunicorn server, three messages.  Extra arguments go to the
benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import verdict

#: The one latency variant the check runs (a polling Subscriber: no push needed).
VARIANT = "Subscriber poll 0.1s"


def command(out: Path, extra: list[str]) -> list[str]:
    """The broken benchmark run, writing its results under C{out}."""
    return [sys.executable, "-m", "bench", "--smoke", "--only", "latency", "--servers", "gunicorn",
            "--variants", VARIANT, "--no-plot", "--break-delivery", "--out", str(out), *extra]


def judge(status: int, results: dict | None) -> list[str]:
    """
    Why the broken run does not show a working gate (empty: it does).

    @param status: The benchmark's exit status.
    @param results: Its JSON results (C{None} if it wrote none).
    """
    wrong = []
    if status != verdict.EXIT_BROKEN:
        wrong.append(f"the benchmark exited {status}, not {verdict.EXIT_BROKEN} (a broken run)")
    if results is None:
        return wrong + ["the benchmark wrote no results"]
    problems = results.get("problems", [])
    lost = [p for p in problems if "1 of " in p["what"] and "never arrived (message 0)" in p["what"]]
    if len(lost) != 1:
        wrong.append("its results do not name the one message dropped (message 0)")
    if len(problems) != len(lost):
        wrong.append(f"its results name other problems: {[p['what'] for p in problems if p not in lost]}")
    return wrong


def main(argv: list[str] | None = None) -> int:
    """Run the broken benchmark; 0 if it failed as it must, 1 (saying why) otherwise."""
    extra = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        out = Path(tmp)
        status = subprocess.call(command(out, extra), stdin=subprocess.DEVNULL)
        path = out / "smoke.json"
        results = json.loads(path.read_text()) if path.exists() else None
    wrong = judge(status, results)
    for line in wrong:
        print(f"[bench.gate_check] FAILED: {line}", file=sys.stderr, flush=True)
    if not wrong:
        print(f"[bench.gate_check] OK: a run that lost one message exited {status} and named it",
              file=sys.stderr, flush=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
