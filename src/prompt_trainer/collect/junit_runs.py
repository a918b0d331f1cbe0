"""Several JUnit reports of one sample -> the same ``TestRun`` records, flaky-marked and capped.

The collect stage parses each report with ``collect.junit``; this module works on the parsed runs
of one sample together: ``flag_flaky_across_runs`` marks a failure flaky when the same test passed
in another run of the same commit, and ``cap_sample_cases`` bounds the case records kept over all
the reports of a sample (failures and errors first). Each report's counts stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence

from prompt_trainer.models import TestCase, TestCounts, TestRun

#: Case records kept over all the reports of one sample (``cap_sample_cases``).
MAX_SAMPLE_CASES = 2_000


def flag_flaky_across_runs(runs: Sequence[TestRun]) -> tuple[TestRun, ...]:
    """Mark failures of tests that passed in another run of the same commit as flaky.

    ``runs`` are the reports of every workflow run and attempt of one head commit. A failing case
    stays a failure (it is evidence) but gets ``flaky=True`` so that metrics and the trainer can
    set it apart.
    """
    out: list[TestRun] = []
    for run in runs:
        others = [other.passed_ids for other in runs if other is not run]
        changed = False
        cases: list[TestCase] = []
        for case in run.cases:
            failing = case.status in ("failed", "error") and not case.flaky
            if failing and any(_key(case) in passed for passed in others):
                cases.append(case.model_copy(update={"flaky": True}))
                changed = True
            else:
                cases.append(case)
        out.append(_with_cases(run, tuple(cases)) if changed else run)
    return tuple(out)


def _with_cases(run: TestRun, cases: tuple[TestCase, ...]) -> TestRun:
    """``run`` with other records, its exact counts carried over (flaky ones recounted)."""
    totals = run.totals or _totals(run)
    flaky = totals.flaky + sum(c.flaky for c in cases) - sum(c.flaky for c in run.cases)
    update = {"cases": cases, "totals": totals.model_copy(update={"flaky": flaky})}
    return run.model_copy(update=update)


def _totals(run: TestRun) -> TestCounts:
    counts = run.counts()
    return TestCounts(**counts, attempts=run.attempts)


def cap_sample_cases(
    runs: Sequence[TestRun], *, limit: int = MAX_SAMPLE_CASES
) -> tuple[TestRun, ...]:
    """Keep at most ``limit`` case records over all the reports of one sample, failures and
    errors first; each report's counts stay exact and a note says how many were dropped."""
    problems = sum(1 for run in runs for c in run.cases if c.status in ("failed", "error"))
    budget_fail, budget_other = min(problems, limit), max(0, limit - problems)
    out: list[TestRun] = []
    for run in runs:
        failing = [c for c in run.cases if c.status in ("failed", "error")][:budget_fail]
        other = [c for c in run.cases if c.status not in ("failed", "error")][:budget_other]
        budget_fail -= len(failing)
        budget_other -= len(other)
        if len(failing) + len(other) == len(run.cases):
            out.append(run)
            continue
        kept = tuple(c for c in run.cases if c in failing or c in other)
        note = f"{len(run.cases) - len(kept)} case record(s) dropped by the per-sample cap"
        capped = _with_cases(run, kept)
        out.append(capped.model_copy(update={"notes": (*run.notes, note)}))
    return tuple(out)


def _key(case: TestCase) -> int:
    return hash((case.suite, case.classname, case.name, case.file))
