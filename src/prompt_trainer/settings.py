"""Configuration: ``.github/prompt-trainer.yml`` plus the environment, read once into typed values.

``Settings.load(path, env)`` is the only place that reads the configuration file and the process
environment; every stage receives the small frozen section it needs. It also hands the secret
values the environment holds to ``redact.hold``, which masks them in every outgoing text.
Invalid input raises ``ConfigError`` naming the key, the value and the fix. The JSON Schema
committed under ``schema/`` is generated from ``ConfigFile`` (``prompt-trainer schema``), so
editors validate the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prompt_trainer import redact
from prompt_trainer.commandenv import (
    PROVIDER_KEY_VARS,
    SPLIT_JOBS,
    barred,
    command_environment,
    is_secret_name,
    never_passed,
)
from prompt_trainer.config_errors import CONFIG_FIX, describe_validation_error
from prompt_trainer.errors import ConfigError
from prompt_trainer.limits import (
    MAX_ARTIFACT_BYTES,
    MAX_EXTRACTED_BYTES,
    MAX_EXTRACTED_FILES,
    MAX_REPORT_BYTES,
    MAX_TEXT_CHARS,
    MAX_TRACE_BYTES,
)

DEFAULT_CONFIG_PATH = ".github/prompt-trainer.yml"
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
#: Retries wait about this times 2^n seconds (GitHub and LLM calls); PROMPT_TRAINER_BACKOFF_S.
DEFAULT_BACKOFF_S = 0.5
TARGET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
#: The login of the workflow's GITHUB_TOKEN (its PRs and comments are the bot's own).
DEFAULT_BOT_LOGINS = ("github-actions[bot]",)

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Dotted key paths of the settings that run commands, choose where requests and keys go, or
#: decide whom to trust. On events a pull request can steer (``config_trust.GUARDED_EVENTS``)
#: they are honoured only from the default branch's configuration file; add every new such key.
SENSITIVE_KEYS: tuple[str, ...] = (
    "model",
    "api_base",
    "training.eval_command",
    "training.eval_pass_env",
    "reviews.trusted_associations",
    "reviews.include_bots",
    "agent.authors",
    "agent.labels",
    "store.branch",
    "pull_request.template",
    "pull_request.bot_logins",
    "artifacts.workflows",
    "training.gate",
    "training.gepa.metric",
    "training.gepa.reflection_model",
    "replay.agent_command",
    "replay.test_command",
    "replay.trace_glob",
    "replay.setup_command",
)


class Section(BaseModel):
    """A configuration section: frozen, and unknown keys are errors (typos must not pass)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AgentRules(Section):
    """Which pull requests are the agent's work: either rule matching is enough."""

    authors: tuple[str, ...] = Field(
        default=("claude[bot]",), description="PR author logins that are coding agents."
    )
    labels: tuple[str, ...] = Field(
        default=("agent",), description="PR labels that mark a PR as the agent's work."
    )


class ArtifactGlobs(Section):
    """Workflow-artifact name globs (fnmatch) for each kind of evidence."""

    junit: tuple[str, ...] = Field(default=("*junit*", "test-results*"))
    traces: tuple[str, ...] = Field(default=("*trace*", "claude-execution*"))
    workflows: tuple[str, ...] = Field(
        default=(),
        description="Workflows whose runs may supply artifacts and CI conclusions: names "
        "(`CI`), file paths (`.github/workflows/ci.yml`) or file names (`ci.yml`); empty means "
        "every workflow. Runs from forks never count.",
    )


#: The training strategies (``train.strategies``; the CLI's choices list them too).
Strategy = Literal["evolve", "rules", "rewrite", "gepa"]


class Target(Section):
    """A set of prompt files trained together: a main prompt and optional subagents."""

    name: str = Field(description="Short name; used in the branch prompt-trainer/<name>.")
    main: str = Field(description="Main prompt or rules file, relative to the repository root.")
    subagents: str | None = Field(
        default=None, description="Directory of subagent .md files (YAML frontmatter)."
    )
    files: tuple[str, ...] = Field(
        default=(),
        description="More prompt files trained with the main one, relative to the repository "
        "root: Claude Code skills (.claude/skills/<name>/SKILL.md and the files they reference), "
        "nested CLAUDE.md files, Copilot's .github/instructions/*.instructions.md and "
        ".github/agents/*.agent.md, Cursor's .cursor/rules/*.mdc, GEMINI.md. Their frontmatter "
        "is kept as it is; a file scoped to some paths (applyTo, globs, a nested CLAUDE.md's "
        "directory) is changed only for evidence about those paths.",
    )
    max_subagents: int = Field(default=5, ge=0, le=50)
    strategy: Strategy | None = Field(
        default=None,
        description="This target's strategy; unset: training.strategy (evolve by default).",
    )

    @field_validator("name")
    @classmethod
    def _name_is_branch_safe(cls, value: str) -> str:
        if not TARGET_NAME.match(value):
            raise ValueError("must be lowercase letters, digits, '.', '_' or '-'")
        return value

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in value if not repository_path(p)]
        if bad:
            raise ValueError(
                f"not paths inside the repository: {', '.join(bad)} (relative, no '..')"
            )
        repeated = sorted({p for p in value if value.count(p) > 1})
        if repeated:
            raise ValueError(f"listed twice: {', '.join(repeated)}")
        return value


def repository_path(path: str) -> bool:
    """A relative POSIX path that stays inside the repository (no ``..``, not absolute)."""
    parts = path.split("/")
    return bool(path.strip()) and not path.startswith(("/", "~")) and ".." not in parts


class PullRequestOptions(Section):
    """How proposals are opened."""

    labels: tuple[str, ...] = Field(default=("prompt-trainer",))
    template: str | None = Field(
        default=None,
        description="A Jinja2 template for the PR body, relative to the repository root, "
        "rendered in Jinja2's sandbox with the same view as the built-in one.",
    )
    bot_logins: tuple[str, ...] = Field(
        default=DEFAULT_BOT_LOGINS,
        min_length=1,
        description="Logins the bot writes as: a PR is its own only when one of them opened it "
        "from prompt-trainer/<target> in this repository, and only their comments and bodies "
        "are read for its markers. A GitHub App token writes as '<app-slug>[bot]'.",
    )


class ReviewOptions(Section):
    """Whose review text counts as trusted feedback."""

    trusted_associations: tuple[str, ...] = Field(
        default=("OWNER", "MEMBER", "COLLABORATOR"),
        description="author_association values whose comments are trusted feedback in local "
        "evidence (collect --local, reviews.json). With GitHub, trust is write access to the "
        "repository (write, maintain or admin), asked of the collaborator-permission API.",
    )
    include_bots: bool = Field(default=False, description="Keep comments written by bots.")


class Limits(Section):
    """Caps that keep hostile or huge inputs from exhausting the runner."""

    max_artifact_bytes: int = Field(default=MAX_ARTIFACT_BYTES, gt=0)
    max_extracted_bytes: int = Field(default=MAX_EXTRACTED_BYTES, gt=0)
    max_extracted_files: int = Field(default=MAX_EXTRACTED_FILES, gt=0)
    max_report_bytes: int = Field(default=MAX_REPORT_BYTES, gt=0)
    max_text_chars: int = Field(
        default=MAX_TEXT_CHARS, gt=0, description="Per message/excerpt cap."
    )
    rate_reserve: int = Field(
        default=200,
        ge=0,
        description="GitHub API requests a backfill leaves unspent for the run's own writes "
        "(data branch, dashboard, proposals): it stops before the token's remaining budget "
        "would fall below this and continues at the next run.",
    )
    max_trace_bytes: int = Field(
        default=MAX_TRACE_BYTES,
        gt=0,
        description="Agent traces are streamed in bounded memory up to this size; a larger one "
        "keeps its first and last halves of this many bytes (JSON arrays: the first part), with "
        "a note saying what was left out.",
    )


class StoreOptions(Section):
    """Where collected evidence is kept between workflow runs."""

    branch: str | None = Field(
        default="prompt-trainer-data",
        description="Data branch holding .prompt-trainer/samples.jsonl, written through the Git "
        "Data API so evidence outlives artifact retention; null keeps the ledger local only.",
    )

    lock_stale_minutes: int = Field(
        default=120,
        gt=0,
        description="A run lock (refs/prompt-trainer/lock) older than this belonged to a run "
        "that died and is taken over.",
    )

    @field_validator("branch")
    @classmethod
    def _branch_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9._/-]+", value):
            raise ValueError("must be a branch name (letters, digits, '.', '_', '-', '/')")
        return value


class ReportOptions(Section):
    """How versions are measured and compared."""

    min_samples: int = Field(
        default=5,
        ge=1,
        description="Samples needed on each side before a comparison shows a delta instead of "
        "'not enough data'.",
    )


class RunsOptions(Section):
    """The per-run working directories under ``.prompt-trainer/runs/``."""

    keep_days: int = Field(
        default=30,
        ge=1,
        description="Run directories older than this are deleted when a new run starts.",
    )
    resume_within_hours: int = Field(
        default=24,
        ge=0,
        description="An interrupted run this recent, with the same inputs, is resumed (steps "
        "already done are skipped) instead of started over; 0 never resumes.",
    )


class DashboardOptions(Section):
    """The dashboard issue: one per repository, kept up to date by the bot."""

    enabled: bool = Field(
        default=True, description="Create and update the dashboard issue on runs with GitHub."
    )
    title: str = Field(default="prompt-trainer dashboard", min_length=1, max_length=200)
    label: str = Field(
        default="prompt-trainer-dashboard",
        min_length=1,
        max_length=50,
        description="Label that marks the dashboard issue (how it is found again).",
    )


class GepaOptions(Section):
    """The ``gepa`` strategy: GEPA's reflective Pareto search over the prompt files' sections."""

    max_metric_calls: int = Field(
        default=60,
        ge=0,
        description="GEPA's budget: candidate scorings (one candidate on one pull request) the "
        "search may make, counted across resumed runs; those of the current prompts count too, "
        "though they need no LM call. training.max_calls and max_usd still cap every LM call.",
    )
    reflection_model: str | None = Field(
        default=None,
        description="The LiteLLM model id that rewrites a section from the feedback (its key "
        "is read like the training model's); unset: the training model. With metric replay in "
        "the Action's split jobs it is required: the search runs in the evaluate job, which "
        "holds no trainer key, so name this model's key in training.eval_pass_env and map it "
        "there (docs/workflows.md).",
    )
    metric: Literal["judge", "replay"] = Field(
        default="judge",
        description="How a candidate is scored on a pull request: judge (the per-edit judge's "
        "question: would an agent following these prompts have avoided this failure?) or "
        "replay (the agent reruns the PR's task with the candidate's prompts and the tests "
        "decide; needs replay.agent_command and replay.test_command; in the Action it runs in "
        "the evaluate job on workflow_dispatch and schedule, with training.gepa."
        "reflection_model, and its candidate is opened as a draft; locally in a run that "
        "writes nothing; elsewhere the judge scores, and the run says why: docs/training.md).",
    )


class TrainingOptions(Section):
    """How much evidence a candidate needs and how much a run may spend."""

    strategy: Strategy = Field(
        default="evolve",
        description="evolve: reflect per failure cluster, then itemized edits; rules: root "
        "causes become rules under '## Learned rules'; rewrite: one call returns whole files; "
        "gepa: GEPA's reflective Pareto search over the prompt files' sections (see "
        "training.gepa). targets[].strategy overrides it per target.",
    )
    gepa: GepaOptions = GepaOptions()

    min_samples: int = Field(
        default=1, ge=1, description="Samples of the current version needed before training."
    )
    max_calls: int = Field(default=25, ge=1, description="LM calls per target per run, at most.")
    max_usd: float | None = Field(
        default=None, gt=0, description="Stop before a target's LM cost exceeds this (USD)."
    )
    max_evidence_tokens: int = Field(
        default=4000,
        ge=200,
        description="Hard cap on the tokens of one sample's evidence view: lower-ranked items "
        "are cut first, with a note (see `prompt-trainer evidence`); a call that shows several "
        "samples shares twice this.",
    )
    max_prompt_chars: int = Field(
        default=100_000, gt=0, description="Guardrail: characters per candidate file."
    )
    max_prompt_tokens: int = Field(
        default=25_000, gt=0, description="Guardrail: estimated tokens of all candidate files."
    )
    max_growth_pct: int = Field(
        default=50, ge=0, description="Guardrail: growth of the prompts' size, in percent."
    )
    candidates: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Candidates made per target; the best by held-out score is proposed and "
        "the others are kept under .prompt-trainer/candidates/.",
    )
    rejected_evidence_threshold: int = Field(
        default=2,
        ge=0,
        description="An edit like one in a proposal closed without merge is proposed again "
        "only when it cites at least this many new pieces of evidence.",
    )
    llm_timeout_s: float = Field(
        default=600,
        gt=0,
        description="Seconds one LM call may wait for its answer; a call that times out is "
        "lost (not retried: a slow model is as slow again) and the run goes on. Raise it for "
        "a slow local model (docs/local-models.md).",
    )
    context_tokens: int | None = Field(
        default=None,
        ge=1024,
        description="The model's context window in tokens (e.g. llama.cpp's --ctx-size, "
        "Ollama's num_ctx). When set, each request's output cap (max_tokens, 8,000 at most) "
        "is lowered so that prompt and answer fit, and a request whose prompt alone does not "
        "fit is not sent (that call is lost). Unset: the provider's own limit applies.",
    )
    eval_command: str | None = Field(
        default=None,
        description="A shell command that evaluates a prompt set, run once with the current "
        "prompts and once with the candidate. It finds the prompt files under "
        "$PROMPT_TRAINER_PROMPTS_DIR (at their repository paths) and writes JUnit XML to "
        "$PROMPT_TRAINER_JUNIT; its pass-rate delta is authoritative: a candidate that passes "
        "fewer tests is not proposed.",
    )
    eval_timeout_s: int = Field(default=1800, gt=0, description="Timeout of one eval_command run.")
    eval_repeat: int = Field(
        default=1,
        ge=1,
        le=20,
        description="Runs of eval_command per prompt set; the candidate is blocked only when "
        "its mean pass rate drops by more than the run-to-run spread.",
    )
    require_improvement: bool | Literal["draft"] = Field(
        default=True,
        description="With the per-edit judge: a candidate none of whose edits prevents "
        "held-out failures of its kind more often than those of other kinds (Fisher's exact "
        "test), when 3 or more held-out failures of their kinds exist, is not proposed (true), "
        "opened as a draft pull request (draft), or proposed anyway (false). With the pairwise "
        "judge: a candidate it finds worse is not proposed (true) or opened as a draft (draft).",
    )
    judge: Literal["per-edit", "pairwise"] = Field(
        default="per-edit",
        description="The held-out evaluation: per-edit (one call per held-out PR with a "
        "problem asks, for each edit of the candidate's diff, whether it prevents, partly "
        "prevents, is irrelevant to or conflicts with each failure; measured against failures "
        "of other kinds; at most 40% of max_calls) or pairwise (the earlier blind judge of "
        "whole prompt sets, two calls per held-out PR).",
    )
    eval_pass_env: tuple[str, ...] = Field(
        default=(),
        description="Environment variables passed to eval_command and the replay's commands "
        "besides the allow-list (PATH, HOME, locale, TMPDIR, CI and the runner's variables that "
        "hold no secret), e.g. [ANTHROPIC_API_KEY] for an evaluation that runs the agent. "
        "GITHUB_TOKEN, GH_TOKEN and ACTIONS_* variables are never passed.",
    )
    gate: Literal["judge", "replay"] = Field(
        default="judge",
        description="What decides whether a candidate may be proposed, besides the guardrails "
        "and eval_command: judge (the held-out LLM judge, see require_improvement) or replay "
        "(also `prompt-trainer replay`: the agent reruns held-out tasks with both prompt sets "
        "and the tests decide; a 'worse' verdict blocks). In the Action, replay runs only on "
        "workflow_dispatch and schedule; on other events it is reported as not run.",
    )
    holdout: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="0 proposes without held-out evaluation. With the pairwise judge: the "
        "newest fraction of the samples held out (at least one). With the per-edit judge any "
        "other value turns it on: failures are held out per kind, newest first, as the "
        "evaluation budget (40% of max_calls) allows, keeping two PRs of each kind to train on.",
    )

    def strategy_for(self, target: Target) -> Strategy:
        """The target's own strategy, else ``training.strategy``."""
        return target.strategy or self.strategy

    @field_validator("eval_pass_env")
    @classmethod
    def _variable_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not ENV_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"not environment variable names: {', '.join(bad)}")
        refused = [name for name in value if never_passed(name)]
        if refused:
            raise ValueError(
                f"{', '.join(refused)} is never passed to a command (the token and the "
                "runner's ACTIONS_* credentials stay with prompt-trainer); remove it"
            )
        return value


class ReplayOptions(Section):
    """`prompt-trainer replay`: rerun the agent on stored tasks with each prompt set and let the
    tests decide (docs/replay.md)."""

    agent_command: str | None = Field(
        default=None,
        description="Shell command that runs the coding agent in a worktree at the task's base "
        "commit; it reads the task from $PROMPT_TRAINER_TASK (or the file "
        "$PROMPT_TRAINER_TASK_FILE); $PROMPT_TRAINER_VARIANT is current or candidate and "
        "$PROMPT_TRAINER_SAMPLE the sample id. It gets the allow-listed environment and the "
        "variables training.eval_pass_env names, nothing else.",
    )
    test_command: str | None = Field(
        default=None,
        description="Shell command run in the same worktree after the agent; it must write "
        "JUnit XML to $PROMPT_TRAINER_JUNIT. A run passes when the report has at least one "
        "test and no failures or errors.",
    )
    setup_command: str | None = Field(
        default=None,
        description="Shell command run once in each fresh worktree before the agent (e.g. "
        "`test -d node_modules || npm ci --prefer-offline`); a failure is the run's failure. "
        "It gets the environment the other replay commands get.",
    )
    reuse_node_modules: bool = Field(
        default=True,
        description="Before setup_command, hard-link (else copy) the checkout's node_modules "
        "directories into the worktree when its lockfiles (package-lock.json, yarn.lock, "
        "pnpm-lock.yaml, bun.lock...) are the checkout's, byte for byte; tool caches inside "
        "them (.cache, .vite, .vitest) are left out.",
    )
    tasks: int = Field(default=5, ge=1, le=200, description="Tasks replayed, at most.")
    repeat: int = Field(
        default=1, ge=1, le=20, description="Runs of each (task, prompt set), alternating order."
    )
    timeout_s: int = Field(
        default=1800, gt=0, description="Seconds the agent (and then the tests) may take per run."
    )
    trace_glob: str | None = Field(
        default=None,
        description="Glob, relative to the worktree, of the trace files the agent writes (e.g. "
        "`.replay/trace.jsonl`); they are kept and parsed for tokens and cost.",
    )
    max_usd: float | None = Field(
        default=None,
        gt=0,
        description="Stop starting runs once the traces report this much cost (USD) in total; "
        "null: no limit (the traces may not report cost at all).",
    )


class ConfigFile(Section):
    """The whole ``.github/prompt-trainer.yml``."""

    model: str = Field(default="openai/gpt-4.1", description="Any LiteLLM model id.")
    api_base: str | None = Field(default=None, description="OpenAI-compatible endpoint.")
    agent: AgentRules = AgentRules()
    artifacts: ArtifactGlobs = ArtifactGlobs()
    targets: tuple[Target, ...] = Field(min_length=1)
    pull_request: PullRequestOptions = PullRequestOptions()
    reviews: ReviewOptions = ReviewOptions()
    limits: Limits = Limits()
    store: StoreOptions = StoreOptions()
    report: ReportOptions = ReportOptions()
    training: TrainingOptions = TrainingOptions()
    runs: RunsOptions = RunsOptions()
    dashboard: DashboardOptions = DashboardOptions()
    replay: ReplayOptions = ReplayOptions()

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, value: tuple[Target, ...]) -> tuple[Target, ...]:
        names = [t.name for t in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"target names must be unique; repeated: {', '.join(duplicates)}")
        return value


class Environment(Section):
    """What the process environment contributes (GitHub Actions variables and secrets)."""

    github_token: str | None = None
    github_api_url: str = DEFAULT_API_URL
    #: Where the repository's pages are (``GITHUB_SERVER_URL``): the only links the bot writes.
    github_server_url: str = DEFAULT_SERVER_URL
    github_repository: str | None = None
    github_event_name: str | None = None
    github_event_path: str | None = None
    model_override: str | None = None
    api_base_override: str | None = None
    http_timeout_s: int = 30
    backoff_s: float = Field(
        default=DEFAULT_BACKOFF_S,
        description="Retries of GitHub and LLM calls wait about backoff_s x 2^n seconds "
        "(PROMPT_TRAINER_BACKOFF_S); a Retry-After or rate-limit reset is honoured regardless.",
    )
    github_run_id: str | None = None
    api_keys: dict[str, str] = Field(default_factory=dict, repr=False)
    #: The whole process environment, the base of ``command_environment`` (never logged).
    variables: dict[str, str] = Field(default_factory=dict, repr=False, exclude=True)

    def secret_values(self) -> tuple[str, ...]:
        """The values masked in every text that leaves the runner (``redact.hold``): the GitHub
        token, the provider keys, and every variable named like a secret
        (``commandenv.is_secret_name``, or ``redact.looks_like_secret_name``: ``PGPASSWORD``,
        ``GH_PAT``)."""
        named = [
            value
            for name, value in self.variables.items()
            if is_secret_name(name) or redact.looks_like_secret_name(name)
        ]
        in_urls = [part for value in self.variables.values() for part in _url_credentials(value)]
        held = (self.github_token, *self.api_keys.values(), *named, *in_urls)
        return tuple(v for v in held if v)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Environment:
        """Pick the variables prompt-trainer uses; empty strings count as unset."""

        def get(name: str) -> str | None:
            return env.get(name) or None

        api_url = (get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        return cls(
            github_token=get("GITHUB_TOKEN"),
            github_api_url=api_url,
            github_server_url=(get("GITHUB_SERVER_URL") or _server_of(api_url)).rstrip("/"),
            github_repository=get("GITHUB_REPOSITORY"),
            github_event_name=get("GITHUB_EVENT_NAME"),
            github_run_id=get("GITHUB_RUN_ID"),
            github_event_path=get("GITHUB_EVENT_PATH"),
            http_timeout_s=_seconds(get("PROMPT_TRAINER_HTTP_TIMEOUT"), default=30),
            backoff_s=_backoff(get("PROMPT_TRAINER_BACKOFF_S")),
            model_override=get("PROMPT_TRAINER_MODEL"),
            api_base_override=get("PROMPT_TRAINER_API_BASE"),
            api_keys={k: v for k, v in env.items() if k.endswith("_API_KEY") and v},
            variables=dict(env),
        )


#: A URL whose userinfo holds a password (``postgres://app:pw@db/x``), whatever its variable's
#: name (``DATABASE_URL``, ``BROKER``).
_USERINFO = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]{0,30}+://[^/\s:@]{0,256}+:(?P<pw>[^/\s@]{1,256}+)@"
)


def _url_credentials(value: str) -> tuple[str, ...]:
    """A value that is a URL with a password in its userinfo: the whole value and the password
    (held apart, so the password alone is masked too); nothing for any other value."""
    found = _USERINFO.match(value)
    return (value, found.group("pw")) if found else ()


def _server_of(api_url: str) -> str:
    """The web server of an API URL: GitHub Enterprise Server's ``https://host/api/v3`` is
    ``https://host``; anything else is github.com."""
    return api_url.removesuffix("/api/v3") if api_url.endswith("/api/v3") else DEFAULT_SERVER_URL


def _seconds(text: str | None, *, default: int) -> int:
    """Whole seconds (PyGithub takes an int timeout)."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(
            f"PROMPT_TRAINER_HTTP_TIMEOUT={text!r} is not a whole number of seconds",
            fix="set it to a positive whole number, e.g. 30",
        ) from None
    if value <= 0:
        raise ConfigError("PROMPT_TRAINER_HTTP_TIMEOUT must be positive", fix="e.g. 30")
    return value


def _backoff(text: str | None) -> float:
    """Seconds, zero or more (tests set 0 so that retries do not sleep)."""
    if text is None:
        return DEFAULT_BACKOFF_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 60:  # also refuses nan
        raise ConfigError(
            f"PROMPT_TRAINER_BACKOFF_S={text!r} is not a number of seconds from 0 to 60",
            fix=f"leave it unset (default {DEFAULT_BACKOFF_S}) or set e.g. 0.5",
        )
    return value


class LLMSettings(Section):
    """The resolved model, endpoint and key (flag > environment > file > default)."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout_s: float = 600.0
    backoff_s: float = DEFAULT_BACKOFF_S
    #: The model's context window (``training.context_tokens``); None when not configured.
    context_tokens: int | None = None

    @property
    def key_var(self) -> str:
        return provider_key_var(self.model)

    @property
    def available(self) -> bool:
        """A call can be attempted: there is a key, or a custom endpoint that may need none."""
        return bool(self.api_key or self.api_base)

    @property
    def missing(self) -> str:
        """Why nothing is trained when no call can be attempted (``available`` is false)."""
        return (
            f"training skipped: no API key for {self.model} (set {self.key_var}, or "
            "--api-base for an OpenAI-compatible server)"
        )


class Settings(Section):
    """Everything a run needs to know, resolved once."""

    config: ConfigFile
    env: Environment
    root: Path = Field(description="Repository checkout the prompt paths are relative to.")
    config_path: Path

    @classmethod
    def load(cls, path: Path, env: Mapping[str, str], *, root: Path | None = None) -> Settings:
        """Read and validate the configuration file. A missing prompt file is not checked
        here: it blocks only its own target, in the commands that read it
        (``targets.check_prompt_files``)."""
        config = parse_config(read_config_text(path), source=str(path))
        return cls.of(config, env, path=path, root=root)

    @classmethod
    def of(
        cls, config: ConfigFile, env: Mapping[str, str], *, path: Path, root: Path | None = None
    ) -> Settings:
        """Settings from a configuration already read (the default branch's, through the API),
        with the process environment; ``path`` is where the checkout's file would be. The
        environment's secrets are masked in every outgoing text from now on (``redact.hold``)."""
        environment = Environment.from_mapping(env)
        redact.hold(environment.secret_values())
        root = (root or Path.cwd()).resolve()
        return cls(config=config, env=environment, root=root, config_path=path)

    def with_config(self, config: ConfigFile) -> Settings:
        """The same environment and checkout with another configuration (e.g. the default
        branch's); its prompt files are read under the same root."""
        return self.model_copy(update={"config": config})

    def command_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """``command_environment`` with the variables ``training.eval_pass_env`` names. Every
        configured command gets its environment here, so this is where a process that holds a
        secret on a runner (``commandenv.barred``) refuses to start one, whichever entry point
        asked (``prompt-trainer replay``, the evaluate job, a single job, GEPA's replay metric)."""
        why = barred(self.env.variables, passed=self.config.training.eval_pass_env)
        if why:
            raise ConfigError(
                f"no configured command runs here: {why}",
                fix=f"{SPLIT_JOBS}; run `prompt-trainer replay` in a job of its own whose env: "
                "maps only the agent's key, named in training.eval_pass_env (docs/replay.md)",
            )
        return command_environment(self.env, passed=self.config.training.eval_pass_env, extra=extra)

    def llm(self, *, model: str | None = None, api_base: str | None = None) -> LLMSettings:
        """Resolve the model settings; command-line values win over the environment."""
        chosen = model or self.env.model_override or self.config.model
        return LLMSettings(
            timeout_s=self.config.training.llm_timeout_s,
            context_tokens=self.config.training.context_tokens,
            backoff_s=self.env.backoff_s,
            model=chosen,
            api_base=api_base or self.env.api_base_override or self.config.api_base,
            api_key=self.env.api_keys.get(provider_key_var(chosen)),
        )

    def target(self, name: str) -> Target:
        """The target called ``name``, or a ConfigError listing the ones that exist."""
        for target in self.config.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.config.targets)
        raise ConfigError(f"no target named {name!r}", fix=f"use one of: {known}")


def config_value(config: ConfigFile, key: str) -> Any:
    """The value at a dotted key path of ``SENSITIVE_KEYS`` (``training.eval_command``)."""
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def provider_key_var(model: str) -> str:
    """The conventional API-key variable for a LiteLLM model id (``openai/gpt-4.1``)."""
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    return PROVIDER_KEY_VARS.get(provider, f"{provider.upper()}_API_KEY")


def read_config_text(path: Path) -> str:
    """The configuration file's text, or a ConfigError that says how to create one."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file not found: {path}",
            fix=f"create {DEFAULT_CONFIG_PATH} (see README 'Configuration') or pass --config PATH",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None


#: Nodes a YAML document may expand to, an alias counted once per use: a configuration or a
#: subagent's frontmatter has tens to hundreds; an alias bomb ("billion laughs": nine lists of
#: nine aliases of the one before) has billions, and validating it would never end.
MAX_YAML_NODES = 20_000


class YAMLTooLargeError(yaml.YAMLError):
    """A YAML document that expands (through aliases) to more than ``MAX_YAML_NODES`` nodes."""


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a document expanding to more than ``MAX_YAML_NODES``
    nodes. Aliases are shared while composing, so the node graph itself stays small; its
    expanded size is counted on the graph (each node once, memoized) before anything is built."""

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None and _expanded(node, {}) > MAX_YAML_NODES:
            raise YAMLTooLargeError(
                f"the document expands to more than {MAX_YAML_NODES:,} nodes through its "
                "aliases (&anchor / *alias): refused"
            )
        return node


def _expanded(node: yaml.Node, seen: dict[int, int]) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (stops counting above
    the cap, so a bomb costs as much as its node graph, not its expansion)."""
    if id(node) in seen:
        return seen[id(node)]
    seen[id(node)] = MAX_YAML_NODES + 1  # a cycle (a recursive alias) counts as too large
    total = 1
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    for child in children:
        total += _expanded(child, seen)
        if total > MAX_YAML_NODES:
            break
    seen[id(node)] = total
    return total


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with alias expansion bounded (``BoundedLoader``); raises
    ``yaml.YAMLError`` (``YAMLTooLargeError`` for a bomb)."""
    return yaml.load(text, Loader=BoundedLoader)  # noqa: S506 - a SafeLoader subclass


def parse_config(text: str, *, source: str) -> ConfigFile:
    """Validate YAML text into a ConfigFile; every problem is named by its key path. Alias
    expansion is bounded (``load_yaml``)."""
    try:
        data = load_yaml(text)
    except YAMLTooLargeError as exc:
        raise ConfigError(
            f"{source} is refused: {exc}", fix="write the configuration without alias bombs"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{source} is not valid YAML: {exc}",
            fix="fix the YAML syntax at the line and column shown",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a YAML mapping, got {type(data).__name__}",
            fix="start from the example in the README 'Configuration' section",
        )
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source=source), fix=CONFIG_FIX) from None


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, generated from the model."""
    schema = ConfigFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "prompt-trainer configuration (.github/prompt-trainer.yml)"
    return schema
