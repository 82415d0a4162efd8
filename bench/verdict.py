"""
The benchmark as a gate: what makes a run broken, and its exit status.

A run is broken when a message is lost, missed or delivered twice (every
message a latency run posts must reach its consumer exactly once; every
message a consume run fills must be consumed) or when a driver fails.
A broken run exits L{EXIT_BROKEN}.  A correct full run whose goal is NOT
MET exits L{EXIT_GOAL_NOT_MET}; a smoke run judges no goal, so only a
broken smoke run fails.  Argument errors exit 2 (argparse) and a crash of
the orchestrator itself exits 1 (a traceback).

Only the standard library is used here (the orchestrator's side).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EXIT_OK = 0
#: A message was lost, missed or duplicated, or a driver failed.
EXIT_BROKEN = 3
#: A full run was correct, but a goal was NOT MET.
EXIT_GOAL_NOT_MET = 4


@dataclass(frozen=True)
class Problem:
    """One thing that makes a run broken."""

    workload: str
    variant: str
    rep: int
    what: str

    def describe(self) -> str:
        """One line: where and what."""
        return f"{self.workload} / {self.variant} (repetition {self.rep + 1}): {self.what}"


def _some(numbers: Iterable[object], at_most: int = 10) -> str:
    shown = [str(n) for n in numbers]
    more = f" and {len(shown) - at_most} more" if len(shown) > at_most else ""
    return ", ".join(shown[:at_most]) + more


def delivery_problems(posted: Sequence[int], delivered: Sequence[object]) -> list[str]:
    """
    What is wrong with a latency run's deliveries: every posted message
    must arrive, and only once.

    @param posted: The numbers of the messages posted (C{body["n"]}).
    @param delivered: The number of each message the consumer got, in
        the order it got them (a duplicate appears twice).
    @return: One line per kind of fault (messages missing, delivered more
        than once, or delivered but never posted); empty for a correct run.
    """
    counts = Counter(delivered)
    expected = set(posted)
    missing = [n for n in posted if counts[n] == 0]
    twice = sorted(n for n in expected if counts[n] > 1)
    strangers = [n for n in counts if n not in expected]
    out = []
    if missing:
        out.append(f"{len(missing)} of {len(posted)} messages never arrived (message {_some(missing)})")
    if twice:
        out.append(f"{len(twice)} messages arrived more than once (message {_some(twice)})")
    if strangers:
        out.append(f"{sum(counts[n] for n in strangers)} deliveries of messages never posted "
                   f"({_some(strangers)})")
    return out


def exit_status(problems: Sequence[Problem], goals: Sequence[dict]) -> int:
    """
    The run's exit status: L{EXIT_BROKEN} with any problem, else
    L{EXIT_GOAL_NOT_MET} when a judged goal was not met (C{"met": False};
    a smoke run judges none), else L{EXIT_OK}.
    """
    if problems:
        return EXIT_BROKEN
    if any(goal["met"] is False for goal in goals):
        return EXIT_GOAL_NOT_MET
    return EXIT_OK


def render(problems: Sequence[Problem], goals: Sequence[dict], smoke: bool) -> str:
    """The correctness section and the verdict line, as the terminal shows them."""
    lines = ["correctness (every message arrives exactly once, every driver finishes):"]
    if problems:
        lines += [f"  BROKEN  {p.describe()}" for p in problems]
    else:
        lines.append("  OK      every run")
    status = exit_status(problems, goals)
    not_met = sum(1 for goal in goals if goal["met"] is False)
    if status == EXIT_BROKEN:
        why = f"the run is broken ({len(problems)} problems)"
    elif status == EXIT_GOAL_NOT_MET:
        why = f"{not_met} goals NOT MET"
    elif smoke:
        why = "correct (goals not judged at smoke size)"
    else:
        why = "correct, every judged goal MET"
    lines += ["", f"verdict: exit {status}: {why}"]
    return "\n".join(lines)
