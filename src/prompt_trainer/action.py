"""``prompt-trainer action``: what the GitHub Action runs; decides from the event what to do.

- ``pull_request`` or ``pull_request_target`` closed, the agent's: collect the PR, then train
  and propose each target that has enough samples of its current prompts;
- the same from a fork: collect only (through the API; the fork's code is never run), no LLM;
- ``schedule``, ``workflow_dispatch``: backfill the agent PRs closed in the last
  ``backfill-days``, report to the step summary, train, propose;
- ``pull_request_review``, ``pull_request_review_comment``, ``issue_comment``: the review loop
  (``respond``) on the bot's own PRs;
- anything else, or a PR that is not the agent's: say why nothing is done, exit 0.

``mode`` overrides the decision: ``collect``, ``report``, ``train`` (local candidates only),
``propose`` or ``revise``. Without an LLM key, everything that needs no LLM still happens and the
rest is skipped with a notice. DSPy and LiteLLM are imported only by the modes that call an LLM.

On the events a pull request can steer (``GUARDED_EVENTS``: the checkout may be the PR's merge
ref), ``trusted_settings`` compares the configuration file in the checkout with the default
branch's, read through the API: when they differ the run uses the default branch's (and says so
in the log and the step summary), so ``SENSITIVE_KEYS`` (``eval_command``, ``api_base``,
``model``, trust lists) never come from a PR; when the default branch has none, nothing is done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prompt_trainer.collect.batch import collect_pulls
from prompt_trainer.collect.github_pr import is_agent_pull
from prompt_trainer.github import GitHubClient
from prompt_trainer.models import PullRequestInfo
from prompt_trainer.pipeline import (
    RunOptions,
    RunOutcome,
    busy_message,
    connect,
    exclusive,
    propose_all,
    sync_store,
    train_from_store,
)
from prompt_trainer.settings import (
    DEFAULT_CONFIG_PATH,
    SENSITIVE_KEYS,
    ConfigFile,
    Settings,
    config_value,
    parse_config,
)
from prompt_trainer.store import open_ledger

Log = Callable[[str], None]
MODES = ("auto", "collect", "report", "train", "propose", "revise")
REVIEW_EVENTS = ("pull_request_review", "pull_request_review_comment", "issue_comment")
#: Events whose checkout a pull request can steer: only the default branch's config counts.
GUARDED_EVENTS = ("pull_request", "pull_request_target", *REVIEW_EVENTS)


@dataclass(frozen=True)
class TrustedSettings:
    """The settings a run may use, and what was done about the checkout's config file.

    ``settings`` is None when nothing may be done (the default branch has no config file)."""

    settings: Settings | None
    notice: str | None = None


@dataclass
class ActionResult:
    """What the Action did, for the step summary and the outputs."""

    did: list[str] = field(default_factory=list)
    outcome: RunOutcome = field(default_factory=RunOutcome)
    report_markdown: str = ""


def decide(name: str | None, payload: Mapping[str, Any], mode: str) -> str:
    """The plan for an event: one of ``MODES`` minus ``auto``, ``pr`` (collect one PR, then
    propose), ``pr-fork`` (collect only), ``backfill`` or ``none:<reason>``."""
    if mode != "auto":
        return mode
    if name in ("pull_request", "pull_request_target"):
        pull = payload.get("pull_request") or {}
        if payload.get("action") != "closed":
            return f"none:pull_request {payload.get('action')}: only closed PRs are evidence"
        head = ((pull.get("head") or {}).get("repo") or {}).get("full_name")
        base = ((pull.get("base") or {}).get("repo") or {}).get("full_name")
        return "pr-fork" if head and base and head != base else "pr"
    if name in ("schedule", "workflow_dispatch"):
        return "backfill"
    if name in REVIEW_EVENTS:
        return "revise"
    return f"none:nothing to do for the {name or 'unknown'} event"


def trusted_settings(
    settings: Settings,
    payload: Mapping[str, Any],
    *,
    mode: str,
    connect_client: Callable[[], GitHubClient],
    log: Log,
) -> TrustedSettings:
    """On ``GUARDED_EVENTS``, the settings with the default branch's configuration unless the
    checkout's file is byte for byte the default branch's; other events keep ``settings``."""
    name = settings.env.github_event_name
    if name not in GUARDED_EVENTS or decide(name, payload, mode).startswith("none:"):
        return TrustedSettings(settings)
    client = connect_client()
    branch = client.info().default_branch
    path, local = _checkout_config(settings)
    text = client.read_text(path, ref=branch)
    if text is None:
        notice = (
            f"nothing done: the default branch {branch} has no {path}, and on {name} events "
            "prompt-trainer uses only the default branch's configuration (a pull request may "
            "have written the one in the checkout); merge the configuration first"
        )
        log(f"action: {notice}")
        return TrustedSettings(None, notice)
    if local == text.encode("utf-8"):
        log(f"action: {path} is the default branch's ({branch})")
        return TrustedSettings(settings)
    trusted = parse_config(text, source=f"{path} on {branch}")
    notice = _swap_notice(settings.config, trusted, path=path, branch=branch, event=name)
    log(f"action: {notice}")
    return TrustedSettings(settings.with_config(trusted), notice)


def _checkout_config(settings: Settings) -> tuple[str, bytes | None]:
    """The config file's path in the repository, and its bytes in the checkout (None when it
    cannot be read or lies outside the checkout: then it cannot be the default branch's)."""
    try:
        relative = settings.config_path.resolve().relative_to(settings.root)
    except ValueError:
        return DEFAULT_CONFIG_PATH, None
    try:
        return relative.as_posix(), settings.config_path.read_bytes()
    except OSError:
        return relative.as_posix(), None


def _swap_notice(
    checkout: ConfigFile, trusted: ConfigFile, *, path: str, branch: str, event: str
) -> str:
    changed = [k for k in SENSITIVE_KEYS if config_value(checkout, k) != config_value(trusted, k)]
    ignored = f"; ignored from the checkout: {', '.join(changed)}" if changed else ""
    return (
        f"{path} in the checkout is not the default branch's: this {event} run uses the "
        f"configuration of {branch}{ignored}"
    )


def run_action(
    settings: Settings,
    options: RunOptions,
    payload: Mapping[str, Any],
    *,
    mode: str,
    backfill_days: int,
    log: Log,
) -> ActionResult:
    """Carry out the plan for this event."""
    result = ActionResult()
    plan = decide(settings.env.github_event_name, payload, mode)
    log(f"action: event {settings.env.github_event_name or '(none)'}, plan {plan}")
    if plan.startswith("none:"):
        result.outcome.message = plan.removeprefix("none:")
        return result
    if plan == "train":
        result.outcome = train_from_store(settings, options, target=options.target, log=log)
        result.did.append("trained from the store (candidates written locally)")
        return result
    if plan == "report":
        result.report_markdown = _report(settings, log)
        result.did.append("reported")
        return result
    client = connect(settings, options)
    if plan != "revise":
        with exclusive(client, settings, dry_run=options.dry_run, log=log) as held_by:
            if held_by:
                result.outcome.message = busy_message(held_by)
                return result
            return _write_plan(settings, options, payload, plan, client, result, backfill_days, log)
    # The review loop commits with fast-forwards only, so it needs no lock.
    from prompt_trainer.respond import parse_event, respond  # noqa: PLC0415

    event = parse_event(settings.env.github_event_name, payload)
    if event is None:
        result.outcome.message = "not a review or comment on a pull request"
        return result
    llm = settings.llm(model=options.model, api_base=options.api_base)
    response = respond(settings, client, event, llm=llm, log=log)
    result.outcome.message = f"{response.action}: {response.message.splitlines()[0]}"
    result.did.append(f"review loop: {response.action}")
    return result


def _write_plan(  # noqa: PLR0917 - the plan's state, passed on once
    settings: Settings,
    options: RunOptions,
    payload: Mapping[str, Any],
    plan: str,
    client: GitHubClient,
    result: ActionResult,
    backfill_days: int,
    log: Log,
) -> ActionResult:
    """Collect, and then (by plan) report, train and propose, holding the run lock."""
    store = open_ledger(settings.root)
    number = _event_pull(payload)
    if plan in ("pr", "pr-fork", "collect") and number is not None:
        pull = _pull_info(payload)
        if pull and not is_agent_pull(pull, settings.config.agent):
            result.outcome.message = (
                f"#{number} by {pull.author} is not an agent PR (see agent: in the config)"
            )
            return result
        collected = collect_pulls(
            client,
            [number],
            since=None,
            settings=settings,
            store=store,
            log=log,
            progress=lambda n: n,
            **_resume(options),
        )
        result.outcome.samples = collected.samples
        result.did.append(f"collected #{number}")
    elif plan in ("backfill", "collect"):
        since = datetime.now(UTC) - timedelta(days=backfill_days)
        collected = collect_pulls(
            client,
            None,
            since=since,
            settings=settings,
            store=store,
            log=log,
            progress=lambda n: n,
            **_resume(options),
        )
        result.outcome.samples = collected.samples
        result.did.append(
            f"collected {len(collected.samples)} agent PR(s) closed since {since:%Y-%m-%d}"
        )
    # A fork's PR runs with a read-only token: read the data branch, do not write it.
    push = not options.dry_run and plan != "pr-fork"
    sync_store(store, client, settings, push=push, log=log)
    if plan == "pr-fork":
        result.outcome.message = "PR from a fork: evidence collected; no LLM call is made for it"
        return result
    if plan == "collect":
        return result
    if plan == "backfill":
        result.report_markdown = _report(settings, log)
        result.did.append("reported")
    propose_all(settings, options, client, store, result.outcome, log=log)
    result.did.append("trained and proposed")
    return result


def _resume(options: RunOptions) -> dict[str, Any]:
    """``collect_pulls`` arguments that skip the PRs the resumed run collected and record each
    one this run collects."""
    record = options.run
    if record is None:
        return {}
    return {
        "skip": record.collected(),
        "on_stored": lambda number: record.mark(f"collect:#{number}"),
    }


def _event_pull(payload: Mapping[str, Any]) -> int | None:
    number = (payload.get("pull_request") or {}).get("number")
    return number if isinstance(number, int) else None


def _pull_info(payload: Mapping[str, Any]) -> PullRequestInfo | None:
    pull = payload.get("pull_request")
    if not isinstance(pull, dict):
        return None
    labels = tuple(str(lb.get("name")) for lb in pull.get("labels") or [] if isinstance(lb, dict))
    return PullRequestInfo(
        number=pull.get("number"),
        author=str((pull.get("user") or {}).get("login", "")),
        labels=labels,
    )


def _report(settings: Settings, log: Log) -> str:
    from prompt_trainer.measure import choose_history, load_reports  # noqa: PLC0415
    from prompt_trainer.render.report import render_report  # noqa: PLC0415

    history = choose_history(settings, "auto", None)
    return render_report(load_reports(settings, history=history))
