"""
Mutation testing of the modules whose mistakes no other gate sees: the
client-side validation, the settlement of deliveries and the retry
classification (``tox -e mutation``; not in CI: it takes minutes).

For each target (a ``mutation/<target>.toml``: cosmic-ray's own config,
pinned in tox.ini), this copies the package into a work directory (cosmic-ray
mutates files in place: never the checkout), makes cosmic-ray's session,
skips the operators and the code the config leaves out, checks that the
focused tests pass unmutated, runs every mutant against them, and prints the
score (mutants killed / mutants run) and the diff of each survivor.  A
survivor is either killed by a new test or listed in
``mutation/equivalent.md`` with the reason it cannot be told apart.

    python mutation/run.py --source . --work /tmp/mutation [TARGET ...]

The exit status is 0 when every target ran (survivors do not fail it: the
score is a measure, read with equivalent.md), 1 when a baseline failed.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("validation", "settlement", "transport_failures", "retry")


def copy_tree(source: Path, work: Path) -> Path:
    """Copy the package (library and its tests) to C{work}/tree; return that."""
    tree = work / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    shutil.copytree(source / "txzaqar", tree / "txzaqar",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_trial_temp*"))
    return tree


def function_lines(module: Path, names: list[str]) -> list[str]:
    """The line ranges ("first-last") of the functions named C{Class.method} or C{function}."""
    found: dict[str, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if isinstance(child, ast.ClassDef):
                    visit(child, name + ".")
                else:
                    first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                    found[name] = f"{first}-{child.end_lineno}"

    visit(ast.parse(module.read_text()), "")
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit(f"mutation: {module} has no {', '.join(missing)}")
    return [found[n] for n in names]


def skip_annotations(session: Path, module: Path) -> int:
    """
    Mark as skipped the mutants inside type annotations: under C{from
    __future__ import annotations} Python never evaluates them, so such a
    mutant (C{int | None} made C{int + None}) is equivalent by construction.

    @return: how many were skipped.
    """
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    tree = ast.parse(module.read_text())
    if not any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
               and any(a.name == "annotations" for a in n.names) for n in tree.body):
        return 0
    spans = []
    for node in ast.walk(tree):
        found: list[ast.expr | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            found += [x.annotation for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x]
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        spans += [((e.lineno, e.col_offset), (e.end_lineno, e.end_col_offset)) for e in found if e is not None]
    with use_db(str(session), WorkDB.Mode.open) as db:
        skipped = [item.job_id for item in db.pending_work_items
                   if all(any(first <= tuple(m.start_pos) and tuple(m.end_pos) <= last for first, last in spans)
                          for m in item.mutations)]
        if skipped:
            db.set_multiple_results(skipped, WorkResult(output="in an annotation",
                                                        worker_outcome=WorkerOutcome.SKIPPED))
    return len(skipped)


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def mutate(target: str, tree: Path, work: Path) -> dict[str, int] | None:
    """Run one target; print and return its counts (C{None}: the baseline failed)."""
    config = tomllib.loads((HERE / f"{target}.toml").read_text())
    cosmic = config["cosmic-ray"]
    functions = config.get("mutation", {}).get("functions")
    session_config = work / f"{target}.toml"
    session = work / f"{target}.sqlite"
    if session.exists():
        session.unlink()
    text = (HERE / f"{target}.toml").read_text()
    if functions:
        # only the named functions: cosmic-ray's line filter, with their lines
        lines = function_lines(tree / cosmic["module-path"], functions)
        text += f'\n[cosmic-ray.filters.line-filter.lines]\n"{cosmic["module-path"]}" = {json.dumps(lines)}\n'
    session_config.write_text(text)
    steps = [["cosmic-ray", "init", str(session_config), str(session)],
             ["cr-filter-operators", str(session), str(session_config)]]
    if functions:
        steps.append(["cr-filter-lines", "--config", str(session_config), str(session)])
    for step in steps:
        done = run(step, tree)
        if done.returncode:
            raise SystemExit(f"mutation: {' '.join(step)} failed:\n{done.stdout}{done.stderr}")
    skip_annotations(session, tree / cosmic["module-path"])
    baseline = run(["cosmic-ray", "baseline", str(session_config)], tree)
    if baseline.returncode:
        print(f"{target}: the tests fail unmutated; no score\n{baseline.stdout}{baseline.stderr}")
        return None
    done = run(["cosmic-ray", "exec", str(session_config), str(session)], tree)
    if done.returncode:
        raise SystemExit(f"mutation: cosmic-ray exec failed:\n{done.stdout}{done.stderr}")
    dump = run(["cosmic-ray", "dump", str(session)], tree).stdout
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "other": 0}
    survivors = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None:
            counts["other"] += 1
        elif result["worker_outcome"] == "skipped":
            counts["skipped"] += 1
        elif result["worker_outcome"] != "normal":
            counts["other"] += 1
        else:
            counts[result["test_outcome"]] += 1
            if result["test_outcome"] == "survived":
                m = item["mutations"][0]
                survivors.append((m["start_pos"][0], m["operator_name"], m["occurrence"],
                                  m["definition_name"], result["diff"]))
    survivors.sort()
    report = work / f"{target}-survivors.txt"
    with report.open("w") as out:
        for line_no, operator, occurrence, definition, diff in survivors:
            out.write(f"### line {line_no} in {definition}: {operator} #{occurrence}\n{diff}\n")
    print(report.read_text(), end="")
    tested = counts["killed"] + counts["survived"] + counts["incompetent"]
    score = 100.0 * (counts["killed"] + counts["incompetent"]) / tested if tested else 0.0
    print(f"{target} ({cosmic['module-path']}): {counts['killed']} killed "
          f"(+{counts['incompetent']} incompetent) of {tested} mutants: {score:.1f} %; "
          f"{counts['survived']} survived (listed in {report}); {counts['skipped']} filtered out"
          + (f"; {counts['other']} not run" if counts["other"] else ""))
    sys.stdout.flush()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="the checkout (only read)")
    parser.add_argument("--work", type=Path, required=True, help="where the copy and the sessions go")
    parser.add_argument("targets", nargs="*", help=f"some of {', '.join(TARGETS)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {', '.join(sorted(unknown))}: choose from {', '.join(TARGETS)}")
    work = args.work.resolve()
    tree = copy_tree(args.source.resolve(), work)
    check = run([sys.executable, "-c", "import txzaqar; print(txzaqar.__file__)"], tree)
    if not check.stdout.startswith(str(tree)):
        raise SystemExit(f"mutation: the tests would import {check.stdout.strip()}, not the copy in {tree}")
    results = {t: mutate(t, tree, work) for t in args.targets or TARGETS}
    print("\nmutation score (killed / mutants run):")
    for target, counts in results.items():
        if counts is None:
            print(f"  {target}: baseline failed")
            continue
        tested = counts["killed"] + counts["survived"] + counts["incompetent"]
        print(f"  {target}: {counts['killed'] + counts['incompetent']}/{tested}, {counts['survived']} survived")
    return 1 if None in results.values() else 0


if __name__ == "__main__":
    sys.exit(main())
