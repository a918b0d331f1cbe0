"""Measure stage: prompt versions, metrics with intervals, comparisons and patterns, from the
stored evidence alone (no LLM). ``load_reports`` is the entry point the CLI and the Action use (each
report also shows every current bullet with the clusters it targets and what it did, from the
bullet ledger, ``memory``);
``measured`` is one target's, for a run's PR body (None when it cannot be measured)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from prompt_trainer import workdir
from prompt_trainer.errors import ConfigError, PromptTrainerError
from prompt_trainer.measure.index import SampleIndex
from prompt_trainer.measure.report import TargetReport, build_report
from prompt_trainer.measure.versions import (
    ApiHistory,
    CommitLister,
    GitHistory,
    HashCache,
    History,
    why_no_history,
)
from prompt_trainer.settings import Settings
from prompt_trainer.targets import LocalSource, load_prompt_set

HISTORY_MODES = ("auto", "git", "api", "none")


def choose_history(
    settings: Settings, mode: str, connect: Callable[[], CommitLister] | None
) -> History | None:
    """``git`` (a full local clone), ``api`` (through GitHub), ``none``, or ``auto``: git when
    the clone is complete, else the API when a token and repository are known, else none."""
    if mode in ("auto", "git"):
        local = GitHistory.open(settings.root)
        if local is not None:
            return local
        if mode == "git":
            raise ConfigError(
                f"{settings.root} is not a complete git clone (missing or shallow)",
                fix="clone with full history (actions/checkout: fetch-depth: 0) or use "
                "--history api",
            )
    known = mode == "api" or (settings.env.github_token and settings.env.github_repository)
    if mode in ("auto", "api") and connect is not None and known:
        return ApiHistory(connect())
    if mode == "api":
        raise ConfigError("--history api needs GitHub", fix="set GITHUB_TOKEN and --repo")
    return None


def load_reports(
    settings: Settings,
    *,
    target: str | None = None,
    compare: str | None = None,
    history: History | None,
) -> list[TargetReport]:
    """One report per target (or the one asked for), from the ledger's index."""
    from prompt_trainer.memory import bullet_rows, load_entries  # noqa: PLC0415 - the store's

    targets = [settings.target(target)] if target else list(settings.config.targets)
    root = settings.root
    index = SampleIndex(workdir.ledger_path(root), workdir.index_path(root))
    cache = HashCache(workdir.versions_path(root))
    entries = load_entries(root)
    reports = []
    try:
        for t in targets:
            current = load_prompt_set(t, LocalSource(settings.root), required=False)
            report = build_report(
                t,
                index,
                history=history,
                cache=cache,
                current=current,
                min_samples=settings.config.report.min_samples,
                compare_spec=compare,
                unavailable=why_no_history(settings.root) if history is None else None,
            )
            rows = bullet_rows(current, report, entries) if current.main.content else ()
            reports.append(replace(report, bullets=rows))
    finally:
        index.close()
    return reports


def measured(
    settings: Settings, target: str, client: CommitLister | None, *, log: Callable[[str], None]
) -> TargetReport | None:
    """The target's measurement for the PR body's metric table and chart, and the follow-up
    (None if it fails: the body then says there is no history yet; nothing depends on it)."""
    try:
        history = choose_history(settings, "auto", (lambda: client) if client else None)
        (report,) = load_reports(settings, target=target, history=history)
    except PromptTrainerError as exc:
        log(f"report: {target}: no measurement for the PR body: {exc.message}")
        return None
    return report
