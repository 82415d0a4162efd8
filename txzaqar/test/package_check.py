"""
The package as a user gets it, checked by C{tox -e package} after
C{python -m build}::

    python txzaqar/test/package_check.py --dist DIST --source SOURCE

C{twine check} the sdist and the wheel in C{DIST}; list both archives for
the files that must ship and those that must not; then install the wheel,
the sdist and the source tree C{SOURCE} (editable) each into a fresh
virtualenv and check, from a directory outside the source tree, that
C{txzaqar} imports with the built version and that twistd finds the
C{zaqar-listen} plugin (C{--help}, C{--version}).

One line per check; the first failure ends the run with status 1 and what
went wrong. Not named C{test_*}: trial does not collect it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from email.parser import HeaderParser
from pathlib import Path

PLUGIN = "twisted/plugins/txzaqar_plugins.py"

#: In the sdist, besides the package: what C{tox} needs to run from it.
SDIST_REQUIRED = (
    "LICENSE",
    "NEWS.rst",
    "README.rst",
    "setup.py",
    "pyproject.toml",
    "tox.ini",
    "txzaqar/py.typed",
    "txzaqar/ops/monitoring/alerts.yml",
    "txzaqar/ops/monitoring/dashboard.json",
    "bench/results/reference.json",
    PLUGIN,
)

#: Local state that must never ship, as the first part of a path.
LOCAL_STATE = (".zaqar-servers", ".tox", ".venv", "build", "dist", "_trial_temp", "htmlcov", ".git")

#: Build and run leftovers, anywhere in an archive.
LEFTOVERS = ("__pycache__", ".pyc", "dropin.cache", ".coverage", "bench/results")


class CheckFailed(Exception):
    """A check failed; the message says which and why."""


STARTED = time.monotonic()


def ok(what: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.1f} s] ok: {what}", flush=True)


def check(condition: bool, what: str, detail: str = "") -> None:
    if not condition:
        raise CheckFailed(f"{what}: {detail}" if detail else what)
    ok(what)


def run(argv: Sequence[str | Path], cwd: Path, what: str) -> str:
    """
    Run a command with a clean environment (no virtualenv, no PYTHONPATH
    that could reach the source tree).

    @return: its standard output.
    @raise CheckFailed: when it exits non-zero, with the end of its output.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise CheckFailed(f"{what}: exit status {proc.returncode}\n    " + "\n    ".join(tail))
    return proc.stdout


def one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        raise CheckFailed(f"expected exactly one {pattern} in {dist}, found {[p.name for p in found]}")
    return found[0]


#: What ships from bench/results: the one run the README's tables are generated from.
BENCH_REFERENCE = ("bench/results/", "bench/results/reference.json")


def leftovers(names: Iterable[str]) -> list[str]:
    return [n for n in names if any(part in n for part in LEFTOVERS) and n not in BENCH_REFERENCE]


def source_packages(source: Path) -> list[str]:
    """Every package of the source tree, as the C{__init__.py} path the wheel must hold."""
    return sorted(str(init.relative_to(source)) for init in (source / "txzaqar").rglob("__init__.py")
                  if "__pycache__" not in init.parts)


def check_wheel(wheel: Path, source: Path) -> str:
    """
    The wheel holds the package (every subpackage of C{source}), the plugin
    file and its dist-info (with the LICENSE), nothing else.

    @return: the version in its metadata.
    """
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), None)
        if info is None:
            raise CheckFailed(f"{wheel.name}: no .dist-info/METADATA")
        metadata = HeaderParser().parsestr(archive.read(f"{info}/METADATA").decode("utf-8"))
    version = metadata["Version"]
    ok(f"wheel {wheel.name}: version {version}")
    for required in ("txzaqar/__init__.py", "txzaqar/py.typed", "txzaqar/ops/monitoring/alerts.yml",
                     "txzaqar/ops/monitoring/dashboard.json", PLUGIN, f"{info}/licenses/LICENSE"):
        check(required in names, f"wheel contains {required}")
    missing = [init for init in source_packages(source) if init not in names]
    check(not missing, "wheel holds every package of the source tree (setup.py lists them by hand)", f"{missing}")
    stray = [n for n in names if not (n.startswith(("txzaqar/", f"{info}/")) or n == PLUGIN)]
    check(not stray, "wheel has nothing outside txzaqar/, the plugin file and its dist-info", f"{stray}")
    found = leftovers(names)
    check(not found, "wheel has no build leftovers (.pyc, __pycache__, dropin.cache)", f"{found}")
    check(metadata["License-Expression"] == "Apache-2.0", "wheel metadata: License-Expression: Apache-2.0",
          f"{metadata['License-Expression']!r}")
    return version


def check_sdist(sdist: Path, version: str) -> None:
    """The sdist holds what tox needs to run from it, and no local state."""
    top = f"txzaqar-{version}/"
    with tarfile.open(sdist) as archive:
        names = [m.name + ("/" if m.isdir() else "") for m in archive.getmembers()]
    check(all(n.startswith(top) for n in names), f"sdist unpacks into {top}")
    inside = [n[len(top):] for n in names if n.startswith(top)]
    for required in SDIST_REQUIRED:
        check(required in inside, f"sdist contains {required}")
    local = [n for n in inside if n.split("/")[0] in LOCAL_STATE]
    check(not local, "sdist has no local state (" + ", ".join(LOCAL_STATE) + ")", f"{local}")
    found = leftovers(inside)
    check(not found, "sdist has no build leftovers", f"{found}")
    namespace = [n for n in inside if n in ("twisted/__init__.py", "twisted/plugins/__init__.py")]
    check(not namespace, "sdist has no twisted/__init__.py or twisted/plugins/__init__.py", f"{namespace}")


def make_wheelhouse(dist_wheel: Path, source: Path, wheelhouse: Path, cwd: Path) -> None:
    """
    Every wheel the installs need (the dependencies and the build backend),
    gathered once through pip's cache, so each fresh virtualenv installs
    without the index.
    """
    build_requires = tomllib.loads((source / "pyproject.toml").read_text())["build-system"]["requires"]
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--wheel-dir", wheelhouse, dist_wheel, *build_requires], cwd, "pip wheel (the dependencies)")
    ok(f"dependencies and build requirements gathered ({len(list(wheelhouse.iterdir()))} wheels)")


def check_install(how: str, target: Sequence[str | Path], version: str, source: Path,
                  wheelhouse: Path, work: Path) -> None:
    """
    Install C{target} into a fresh virtualenv and use it from an empty
    directory: import, version, the twistd plugin, the C{txzaqar} console script.
    """
    venv = work / f"venv-{how}"
    outside = work / f"cwd-{how}"
    outside.mkdir()
    run([sys.executable, "-m", "venv", venv], outside, f"{how}: python -m venv")
    python, twistd = venv / "bin" / "python", venv / "bin" / "twistd"
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
         "--find-links", wheelhouse, *target], outside, f"{how}: pip install")
    ok(f"{how}: installed into a fresh virtualenv")

    probe = ("import json, txzaqar, importlib.metadata as m; "
             "print(json.dumps([txzaqar.__version__, m.version('txzaqar'), txzaqar.__file__]))")
    imported, installed, where = json.loads(run([python, "-c", probe], outside, f"{how}: import txzaqar"))
    home = source if how == "editable" else venv
    check(Path(where).resolve().is_relative_to(home.resolve()), f"{how}: import txzaqar from {home}",
          f"imported from {where}")
    check(imported == version, f"{how}: txzaqar.__version__ == {version}", f"{imported!r}")
    check(installed == version, f"{how}: installed metadata version == {version}", f"{installed!r}")

    usage = run([twistd, "--help"], outside, f"{how}: twistd --help")
    check("zaqar-listen" in usage, f"{how}: twistd --help lists zaqar-listen", usage[-800:])
    # Twisted's own plugins still there: nothing shadowed twisted/plugins.
    check(" web " in usage, f"{how}: twistd --help still lists Twisted's own plugins (web)", usage[-800:])
    printed = run([twistd, "zaqar-listen", "--version"], outside, f"{how}: twistd zaqar-listen --version")
    check(printed == f"txzaqar {version}\n", f"{how}: twistd zaqar-listen --version prints 'txzaqar {version}'",
          repr(printed))
    run([twistd, "zaqar-listen", "--help"], outside, f"{how}: twistd zaqar-listen --help")
    ok(f"{how}: twistd zaqar-listen --help exits 0")
    command = run([venv / "bin" / "txzaqar", "--help"], outside, f"{how}: txzaqar --help")
    check("queue" in command and "--format" in command, f"{how}: the txzaqar console script runs (--help)",
          command[-800:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dist", type=Path, required=True, help="where python -m build put the sdist and wheel")
    parser.add_argument("--source", type=Path, required=True, help="the source tree, installed editable")
    args = parser.parse_args(argv)
    dist, source = args.dist.resolve(), args.source.resolve()
    try:
        wheel, sdist = one(dist, "txzaqar-*.whl"), one(dist, "txzaqar-*.tar.gz")
        with tempfile.TemporaryDirectory(prefix="txzaqar-package-") as tmp:
            work = Path(tmp)
            run([sys.executable, "-m", "twine", "check", "--strict", wheel, sdist], work, "twine check")
            ok("twine check --strict: the sdist and the wheel (README renders)")
            version = check_wheel(wheel, source)
            check_sdist(sdist, version)
            wheelhouse = work / "wheelhouse"
            make_wheelhouse(wheel, source, wheelhouse, work)
            check_install("wheel", [wheel], version, source, wheelhouse, work)
            check_install("sdist", [sdist], version, source, wheelhouse, work)
            check_install("editable", ["--editable", source], version, source, wheelhouse, work)
    except CheckFailed as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    print(f"package check: all passed in {time.monotonic() - STARTED:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
