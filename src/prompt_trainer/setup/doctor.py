"""``prompt-trainer doctor``: check a repository's setup and say what to fix.

Each check is a value (``Check``): ``ok``, ``warn`` (works, but something is missing),
``fail`` (a run would stop) or ``skipped`` (with why). A failing check never stops the others:
a broken config still lets the workflow and token checks run where they can.

Checks: the config loads; every target's prompt files are there; a workflow runs the Action
with the permissions it needs; some workflow uploads JUnit reports and, when an agent action
runs, its trace, under names the ``artifacts`` globs match (``setup.evidence_uploads``, offline);
the token reaches the repository and may write; the token's rate budget left (``GET
/rate_limit``, free); the data branch; the model answers a one-token request; the last agent PRs
have evidence artifacts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from prompt_trainer.errors import GitHubError, PromptTrainerError
from prompt_trainer.evaluate import names_command
from prompt_trainer.settings import Environment, Settings, parse_config, read_config_text
from prompt_trainer.setup.checks import Check
from prompt_trainer.setup.evidence_uploads import upload_checks
from prompt_trainer.setup.onboard import workflow_files

NEEDED_PERMISSIONS = {
    "contents": "write",
    "pull-requests": "write",
    "actions": "read",
    "issues": "write",
}
LAST_PULLS = 5


def run_checks(
    config_path: Path,
    env: Mapping[str, str],
    *,
    offline: bool,
    connect: Callable[[Settings], Any],
    ping_model: Callable[[Settings], str | None],
) -> list[Check]:
    """Every check, in order; ``connect`` opens the GitHub client and ``ping_model`` returns an
    error text or None (both injected so the CLI keeps PyGithub and DSPy imports lazy)."""
    checks: list[Check] = []
    root = Path.cwd().resolve()
    try:
        config = parse_config(read_config_text(config_path), source=str(config_path))
    except PromptTrainerError as exc:
        checks.append(Check("config", "fail", exc.message, exc.fix or "fix the file"))
        checks.append(workflow_check(root))
        return checks
    # Not Settings.load: it stops at the first missing prompt file, and each is a check here.
    settings = Settings(
        config=config, env=Environment.from_mapping(env), root=root, config_path=config_path
    )
    targets = ", ".join(t.name for t in settings.config.targets)
    checks.append(Check("config", "ok", f"{config_path} is valid (targets: {targets})"))
    checks += prompt_checks(settings)
    checks.append(workflow_check(settings.root))
    if (split := split_check(settings)) is not None:
        checks.append(split)
    checks += upload_checks(settings.root, settings.config)
    if (search := replay_search_check(settings)) is not None:
        checks.append(search)
    if offline:
        why = "--offline"
        checks += [
            Check(n, "skipped", why)
            for n in ("github", "rate budget", "data branch", "model", "artifacts")
        ]
        return checks
    checks += github_checks(settings, connect)
    checks.append(model_check(settings, ping_model))
    return checks


def prompt_checks(settings: Settings) -> list[Check]:
    from prompt_trainer.targets import LocalSource, load_prompt_set  # noqa: PLC0415

    out = []
    for target in settings.config.targets:
        try:
            prompt_set = load_prompt_set(target, LocalSource(settings.root))
        except PromptTrainerError as exc:
            out.append(Check(f"prompts: {target.name}", "fail", exc.message, exc.fix or ""))
            continue
        files = ", ".join(f.path for f in prompt_set.files)
        missing = [p for p in target.files if p not in {f.path for f in prompt_set.files}]
        out.append(
            Check(
                f"prompts: {target.name}",
                "warn",
                f"targets[].files lists {', '.join(missing)}, not in the working tree",
                "restore the file(s) or take them out of targets[].files",
            )
            if missing
            else Check(f"prompts: {target.name}", "ok", f"{len(prompt_set.files)} file(s): {files}")
        )
    extra = [overlap_check(settings), link_check(settings)]
    return out + [check for check in extra if check is not None]


def link_check(settings: Settings) -> Check | None:
    """A main file that is a link: a proposal writes the file's path, which would replace the
    link with a regular file, so the target should name the file the link points at."""
    from prompt_trainer.targets import resolved_path  # noqa: PLC0415

    links = [
        (t.main, real)
        for t in settings.config.targets
        if (real := resolved_path(settings.root, t.main)) != PurePosixPath(t.main).as_posix()
    ]
    if not links:
        return None
    shown = ", ".join(f"{main} -> {real}" for main, real in links)
    return Check(
        "prompts: links",
        "warn",
        f"main file is a link ({shown}): a proposal would replace the link with a file",
        "set targets[].main to the file the link points at",
    )


def overlap_check(settings: Settings) -> Check | None:
    """Two targets whose main files are one file (a link and what it points at): each would
    get its own PR editing that file."""
    from prompt_trainer.targets import resolved_path  # noqa: PLC0415

    owners: dict[str, list[str]] = {}
    for target in settings.config.targets:
        owners.setdefault(resolved_path(settings.root, target.main), []).append(target.name)
    shared = {path: names for path, names in owners.items() if len(names) > 1}
    if not shared:
        return None
    detail = "; ".join(f"{path} is the main file of {', '.join(n)}" for path, n in shared.items())
    return Check(
        "prompts: overlap",
        "warn",
        f"{detail}: their PRs would compete for one file",
        "keep one target per file (merge them, with main: the real file)",
    )


def workflow_check(root: Path) -> Check:
    """A workflow runs the Action (or the CLI), with the permissions each job needs."""
    for path in workflow_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        if not re.search(r"uses:\s*\S*prompt-trainer|prompt-trainer (action|run)\b", text):
            continue
        name = path.relative_to(root).as_posix()
        missing = _missing_permissions(text)
        if "OWNER/prompt-trainer" in text:
            return Check(
                "workflow",
                "fail",
                f"{name} uses the placeholder OWNER/prompt-trainer",
                "replace OWNER/prompt-trainer@main with where you get the Action",
            )
        if missing:
            return Check(
                "workflow",
                "warn",
                f"{name}: the job running prompt-trainer lacks " + ", ".join(missing),
                "add them under the job's permissions: (see the README)",
            )
        return Check("workflow", "ok", f"{name} runs prompt-trainer with the permissions it needs")
    return Check(
        "workflow",
        "warn",
        "no workflow runs prompt-trainer",
        "run `prompt-trainer init` to write .github/workflows/prompt-trainer.yml",
    )


def split_check(settings: Settings) -> Check | None:
    """With a configured command, a workflow job runs prompt-trainer's ``evaluate`` mode: a job
    that holds the write token refuses to run a command (``docs/workflows.md``). None when the
    configuration names no command."""
    named = names_command(settings)
    if named is None:
        return None
    if next(_evaluate_steps(settings.root), None) is not None:
        return Check("workflow: commands", "ok", f"{named} runs in its own job")
    return Check(
        "workflow: commands",
        "warn",
        f"the configuration names {named}, and no workflow job runs prompt-trainer with "
        "mode: evaluate: a job that holds the write token refuses to run a configured command",
        "split the workflow into train, evaluate and publish jobs (the one `prompt-trainer "
        "init` writes; docs/workflows.md)",
    )


def replay_search_check(settings: Settings) -> Check | None:
    """With ``training.gepa.metric: replay`` and a target on strategy ``gepa``: the search runs
    in the Action's evaluate job, whose model is ``training.gepa.reflection_model`` on a key
    ``training.eval_pass_env`` names and that job's env maps. None otherwise."""
    from prompt_trainer.loop.replay_search import reflection_key, replay_metric  # noqa: PLC0415

    training = settings.config.training
    if training.gepa.metric != "replay" or all(
        training.strategy_for(t) != "gepa" for t in settings.config.targets
    ):
        return None
    name = "gepa: replay metric"
    if not replay_metric(settings):
        return Check(name, "warn", "training.gepa.metric is replay, and replay.agent_command "
                     "and replay.test_command are not both set: the judge scores instead",
                     "set both (docs/replay.md has recipes)")  # fmt: skip
    try:
        var = reflection_key(settings)
    except PromptTrainerError as exc:
        return Check(name, "fail", exc.message, exc.fix or "")
    if not _maps_in_evaluate(settings.root, var):
        return Check(name, "warn", f"no workflow job with mode: evaluate maps {var}: the "
                     "replay-scored search would have no key for its reflection model",
                     f"add `{var}: ${{{{ secrets.<the agent's key> }}}}` to the env of that "
                     "job's prompt-trainer step (docs/workflows.md)")  # fmt: skip
    model = training.gepa.reflection_model
    return Check(name, "ok", f"the evaluate job searches with {model} on {var} (mapped "
                 "there; keep it a key of the agent's, not the trainer's)")  # fmt: skip


def _maps_in_evaluate(root: Path, var: str) -> bool:
    """Whether a workflow job running ``mode: evaluate`` maps ``var`` (job or step env)."""
    for job, step in _evaluate_steps(root):
        envs = (job.get("env"), step.get("env"))
        if any(isinstance(e, dict) and var in e for e in envs):
            return True
    return False


def _evaluate_steps(root: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each job of the repository's workflows with a step that runs ``mode: evaluate``, and
    that step."""
    for path in workflow_files(root):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
        except yaml.YAMLError:
            continue
        jobs = data.get("jobs") if isinstance(data, dict) else None
        for job in (jobs or {}).values():
            steps = job.get("steps") if isinstance(job, dict) else None
            for step in steps if isinstance(steps, list) else ():
                if isinstance(step, dict) and (step.get("with") or {}).get("mode") == "evaluate":
                    yield job, step


def _missing_permissions(text: str) -> list[str]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return ["(the workflow is not valid YAML)"]
    if not isinstance(data, dict):
        return []
    top = data.get("permissions")
    granted: dict[str, str] = {}
    for job in (data.get("jobs") or {}).values():
        if not isinstance(job, dict) or "prompt-trainer" not in yaml.safe_dump(
            job.get("steps") or []
        ):
            continue
        perms = job.get("permissions", top)
        if perms is None or perms == "write-all":
            return []  # the repository's default token permissions, or all: fine or unknowable
        if perms == "read-all":
            perms = dict.fromkeys(NEEDED_PERMISSIONS, "read")
        if isinstance(perms, dict):
            for key, value in perms.items():
                if granted.get(str(key)) != "write":
                    granted[str(key)] = str(value)
    return [
        f"{key}: {level}"
        for key, level in NEEDED_PERMISSIONS.items()
        if granted.get(key) not in (level, "write")
    ]


def github_checks(settings: Settings, connect: Callable[[Settings], Any]) -> list[Check]:
    if not settings.env.github_token:
        return [
            Check(
                "github", "skipped", "GITHUB_TOKEN is not set", "export GITHUB_TOKEN to check it"
            ),
            Check("rate budget", "skipped", "no token"),
            Check("data branch", "skipped", "no token"),
            Check("artifacts", "skipped", "no token"),
        ]
    settings = with_origin_repository(settings)
    try:
        client = connect(settings)
        info = client.info()
        can_push = client.can_push()
    except PromptTrainerError as exc:
        why = "GitHub is not reachable" if isinstance(exc, GitHubError) else exc.message
        return [
            Check("github", "fail", exc.message, exc.fix or "check the token"),
            Check("rate budget", "skipped", why),
            Check("data branch", "skipped", why),
            Check("artifacts", "skipped", why),
        ]
    out = [
        Check("github", "ok", f"{info.full_name} reached; the token can write")
        if can_push is not False
        else Check(
            "github",
            "fail",
            f"{info.full_name} reached, but the token cannot write to it",
            "use a token with contents: write and pull-requests: write",
        )
    ]
    out.append(budget_check(settings, client))
    branch = settings.config.store.branch
    if branch:
        head = client.branch_head(branch)
        out.append(
            Check("data branch", "ok", f"{branch} exists ({head[:12]})")
            if head
            else Check(
                "data branch", "ok", f"{branch} does not exist yet; the first run creates it"
            )
        )
    else:
        out.append(Check("data branch", "skipped", "store.branch is null: the ledger stays local"))
    out.append(artifact_check(settings, client))
    return out


def budget_check(settings: Settings, client: Any) -> Check:
    """The token's REST budget now (``GET /rate_limit``, which costs none of it), and whether a
    backfill could collect anything before reaching ``limits.rate_reserve``."""
    reserve = settings.config.limits.rate_reserve
    try:
        rate = client.rate_limit()
    except PromptTrainerError as exc:
        return Check("rate budget", "warn", f"not read: {exc.message}", exc.fix or "")
    if rate is None:
        return Check("rate budget", "ok", "GitHub reports no rate limit for this server")
    left = (
        f"{rate.remaining:,} of {rate.limit:,} requests left until {rate.reset_at:%H:%M} UTC; "
        f"a backfill keeps {reserve:,} for the run's writes (limits.rate_reserve)"
    )
    if rate.remaining <= reserve:
        return Check(
            "rate budget",
            "warn",
            f"{left}: a backfill now would collect nothing",
            f"wait until {rate.reset_at:%H:%M} UTC, or lower limits.rate_reserve",
        )
    return Check("rate budget", "ok", left)


#: ``owner/name`` in the URL forms of a github.com remote (https, scp-like ssh, ssh://).
GITHUB_REMOTE = re.compile(
    r"^(?:https?://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)


def origin_repository(root: Path) -> str | None:
    """``owner/name`` of the checkout's ``origin`` remote when it is on github.com."""
    from prompt_trainer.targets import git  # noqa: PLC0415

    url = (git(root, "remote", "get-url", "origin") or "").strip()
    match = GITHUB_REMOTE.match(url)
    return match.group(1) if match else None


def with_origin_repository(settings: Settings) -> Settings:
    """The settings with ``GITHUB_REPOSITORY`` taken from ``origin`` when it is not set."""
    if settings.env.github_repository:
        return settings
    repository = origin_repository(settings.root)
    if repository is None:
        return settings
    env = settings.env.model_copy(update={"github_repository": repository})
    return settings.model_copy(update={"env": env})


def artifact_check(settings: Settings, client: Any) -> Check:
    """Do the last agent PRs have artifacts matching the globs?"""
    from prompt_trainer.collect.github_pr import artifact_kind, is_agent_pull  # noqa: PLC0415

    try:
        closed = client.closed_pulls_since(datetime.now(UTC) - timedelta(days=90))
        agent = [p for p in closed if is_agent_pull(p, settings.config.agent)][:LAST_PULLS]
        if not agent:
            return Check(
                "artifacts",
                "warn",
                "no agent PR closed in the last 90 days",
                "check agent.authors and agent.labels, or wait for the agent's first PR",
            )
        found: dict[int, set[str]] = {}
        for pull in agent:
            refs = client.artifacts_for_commit(pull.head_sha) if pull.head_sha else []
            kinds = {
                kind for r in refs if (kind := artifact_kind(r.name, settings.config.artifacts))
            }
            found[pull.number or 0] = kinds
    except PromptTrainerError as exc:
        return Check("artifacts", "fail", exc.message, exc.fix or "")
    listing = ", ".join(f"#{n}: {'+'.join(sorted(k)) or 'none'}" for n, k in found.items())
    if all(not kinds for kinds in found.values()):
        return Check(
            "artifacts",
            "fail",
            f"none of the last {len(found)} agent PR(s) has evidence artifacts ({listing})",
            "add the upload steps `prompt-trainer init --dry-run` prints, or match artifacts: "
            "globs to your artifact names",
        )
    partial = [n for n, kinds in found.items() if kinds != {"junit", "traces"}]
    if partial:
        return Check(
            "artifacts",
            "warn",
            f"some agent PRs lack JUnit reports or traces ({listing})",
            "upload both from the agent's and the CI's workflows (see docs/workflows.md)",
        )
    return Check("artifacts", "ok", f"JUnit reports and traces found ({listing})")


def model_check(settings: Settings, ping_model: Callable[[Settings], str | None]) -> Check:
    llm = settings.llm()
    if not llm.available:
        return Check(
            "model",
            "warn",
            f"no API key for {llm.model}: training would be skipped",
            f"set {llm.key_var} (in Actions: a secret passed through env:)",
        )
    error = ping_model(settings)
    if error:
        return Check(
            "model",
            "fail",
            f"{llm.model} did not answer: {error}",
            "check the model id, key and api_base",
        )
    return Check(
        "model", "ok", f"{llm.model} answered" + (f" at {llm.api_base}" if llm.api_base else "")
    )


def render(checks: list[Check]) -> str:
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skipped": "skip"}
    lines = []
    for check in checks:
        lines.append(f"[{marks[check.status]}] {check.name}: {check.detail}")
        if check.fix and check.status in ("warn", "fail"):
            lines.append(f"       fix: {check.fix}")
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    lines.append(
        f"{failed} problem(s), {warned} warning(s)" if failed or warned else "everything is set up"
    )
    return "\n".join(lines) + "\n"
