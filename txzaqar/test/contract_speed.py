"""
How long the contract suite takes on the in-memory Zaqar and on the real
servers: runs C{txzaqar.test.unit.test_contract_memory} and
C{txzaqar.test.integration.test_contract_real} under trial, each in its own process, and
compares the times trial reports ("Ran N tests in X s")::

    python -m txzaqar.test.contract_speed [--repeat 3]

Exits 1 unless the fake-backed run (best of the repeats) takes under a
tenth of the real-server run (best of the repeats).  The real run needs the
harness's server venv (C{python -m txzaqar.testing prepare}).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile

FAKE = "txzaqar.test.unit.test_contract_memory"
REAL = "txzaqar.test.integration.test_contract_real"
_RAN = re.compile(r"^Ran (\d+) tests? in ([0-9.]+)s", re.M)


def run(module: str) -> tuple[int, float, str]:
    """Run C{module} under trial; return (tests run, seconds, last line)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "twisted.trial", f"--temp-directory={tmp}/_trial_temp", module],
            capture_output=True, text=True, check=False,
        )
    out = proc.stdout + proc.stderr
    match = _RAN.search(out)
    if match is None or proc.returncode != 0:
        sys.exit(f"{module} failed:\n{out[-3000:]}")
    verdict = [line for line in out.splitlines() if line.startswith(("PASSED", "FAILED"))]
    return int(match.group(1)), float(match.group(2)), verdict[-1] if verdict else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    results = {}
    for module in (FAKE, REAL):
        runs = [run(module) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r[1])
        results[module] = best
        times = ", ".join(f"{r[1]:.2f}s" for r in runs)
        print(f"{module}: {best[0]} tests, best {best[1]:.2f}s (runs: {times}); {best[2]}")
    fake, real = results[FAKE][1], results[REAL][1]
    ratio = real / fake if fake else float("inf")
    print(f"fake/real = {fake:.2f}s / {real:.2f}s = 1/{ratio:.1f} "
          f"(per contract test: {1000 * fake / results[FAKE][0]:.1f} ms vs "
          f"{1000 * real / results[REAL][0]:.1f} ms)")
    return 0 if fake < real / 10 else 1


if __name__ == "__main__":
    sys.exit(main())
