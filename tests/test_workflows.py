"""The workflows this project ships or documents (``.github/workflows/``, the one
``prompt-trainer init`` writes, the ```yaml blocks of the README and ``docs/workflows.md``) and
``action.yml``, read as an attacker would: which checkout a privileged job takes, which events
start the review loop (job-level ``if:`` evaluated by ``tests/runner.py`` on the real payloads in
``../shared/realdata/events``), how exact the cache key is, how uv is installed, and what zizmor
and shellcheck say about them."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from prompt_trainer.setup.onboard import render_workflow
from tests.conftest import REALDATA
from tests.runner import evaluate, expression, job_starts

ROOT = Path(__file__).resolve().parents[1]
EVENTS = REALDATA / "events"
DEFAULT_BRANCH = "${{ github.event.repository.default_branch }}"
DOCS = (ROOT / "README.md", ROOT / "docs" / "workflows.md")
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^( *)```yaml\n(.*?)^\1```", re.M | re.S)


def init_workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(render_workflow("OWNER/prompt-trainer@main"))
    return loaded


def doc_blocks() -> list[tuple[str, Any]]:
    """Every fenced ```yaml block of the docs, dedented to its fence, as (name, value)."""
    blocks = []
    for path in DOCS:
        for n, match in enumerate(FENCE.finditer(path.read_text(encoding="utf-8"))):
            body = textwrap.dedent(match.group(2))
            blocks.append((f"{path.relative_to(ROOT)}#{n}", yaml.safe_load(body)))
    return blocks


def shipped() -> list[tuple[str, Any]]:
    files = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    workflows = [(str(p.relative_to(ROOT)), yaml.safe_load(p.read_text())) for p in files]
    return [*workflows, ("init-workflow.yml", init_workflow()), *doc_blocks()]


def jobs_of(document: Any) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(job name, job, workflow-level permissions); a list of steps is one job of its own."""
    if isinstance(document, list):
        return [("steps", {"steps": document}, {})]
    if isinstance(document, dict) and "jobs" in document:
        permissions = document.get("permissions") or {}
        return [(name, job, permissions) for name, job in document["jobs"].items()]
    return []  # a config file or another kind of block


def privileged(job: dict[str, Any], workflow_permissions: Any) -> bool:
    permissions = job.get("permissions", workflow_permissions)
    if permissions == "write-all":
        return True
    writes = isinstance(permissions, dict) and any(
        permissions.get(scope) == "write" for scope in ("contents", "pull-requests")
    )
    return writes or "secrets." in json.dumps(job)


def unpinned_checkouts(document: Any) -> list[str]:
    """The privileged jobs whose checkout may take a PR's ref instead of the default branch."""
    problems = []
    for name, job, permissions in jobs_of(document):
        if not privileged(job, permissions):
            continue
        for step in job.get("steps", []):
            uses = str(step.get("uses", ""))
            ref = (step.get("with") or {}).get("ref")
            if uses.startswith("actions/checkout@") and ref != DEFAULT_BRANCH:
                problems.append(f"{name}: {uses} with ref {ref!r}")
    return problems


def privileged_checkouts(document: Any) -> int:
    return sum(
        str(step.get("uses", "")).startswith("actions/checkout@")
        for _name, job, permissions in jobs_of(document)
        if privileged(job, permissions)
        for step in job.get("steps", [])
    )


@pytest.mark.parametrize(
    ("name", "document"), shipped(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_job_with_write_permissions_or_secrets_checks_out_the_default_branch(
    name: str, document: Any
) -> None:
    assert unpinned_checkouts(document) == [], name


def test_every_shipped_and_documented_privileged_checkout_is_checked() -> None:
    counts = {name: privileged_checkouts(document) for name, document in shipped()}
    # train and review-loop (the LLM key), publish and review-publish (the write token); the
    # evaluate job holds neither and reads only: a checkout there is not privileged.
    assert counts[".github/workflows/prompt-trainer.yml"] == 4
    assert counts["init-workflow.yml"] == 4
    assert counts[".github/workflows/ci.yml"] == 0  # read-only, no secrets
    readme = [n for n in counts if n.startswith("README.md#")]
    docs = [n for n in counts if n.startswith("docs/workflows.md#")]
    # docs/workflows.md: a single job, and the evaluate job that maps the agent's key (GEPA's
    # replay-scored search)
    assert sum(counts[n] for n in readme) == 4 and sum(counts[n] for n in docs) == 2


def test_the_check_catches_a_checkout_of_the_pr_ref() -> None:
    workflow = {
        "permissions": {"contents": "read"},
        "jobs": {
            "read-only": {"steps": [{"uses": "actions/checkout@v4"}]},
            "secret": {
                "steps": [
                    {"uses": "actions/checkout@v4", "with": {"ref": "${{ github.head_ref }}"}},
                    {"run": "x", "env": {"K": "${{ secrets.K }}"}},
                ]
            },
            "writes": {
                "permissions": {"pull-requests": "write"},
                "steps": [{"uses": "actions/checkout@v4"}],
            },
        },
    }
    assert unpinned_checkouts(workflow) == [
        "secret: actions/checkout@v4 with ref '${{ github.head_ref }}'",
        "writes: actions/checkout@v4 with ref None",
    ]


# --- which events start the review loop -------------------------------------------------------


def real_events() -> list[tuple[str, dict[str, Any]]]:
    if not EVENTS.exists():
        return []
    paths = sorted(p for p in EVENTS.rglob("*.json") if p.name != "EXPECTED.json")
    return [(p.parent.name, json.loads(p.read_text())) for p in paths]


def review_loops() -> list[tuple[str, dict[str, Any]]]:
    dogfood = yaml.safe_load((ROOT / ".github" / "workflows" / "prompt-trainer.yml").read_text())
    readme = next(d for n, d in doc_blocks() if n.startswith("README") and "jobs" in (d or {}))
    return [("dogfood", dogfood), ("init", init_workflow()), ("readme", readme)]


def review_job(workflow: dict[str, Any]) -> str:
    """The job that answers reviews and comments (a workflow of one job does everything)."""
    return "review-loop" if "review-loop" in workflow["jobs"] else next(iter(workflow["jobs"]))


def repository_of(payload: dict[str, Any]) -> str:
    return str((payload.get("repository") or {}).get("full_name", "owner/repo"))


def starts(workflow: dict[str, Any], job: str, event: str, payload: dict[str, Any]) -> bool:
    return job_starts(
        workflow, job, event_name=event, payload=payload, repository=repository_of(payload)
    )


def real(event: str, fragment: str) -> dict[str, Any]:
    """A deep copy of the real payload of ``event`` whose file name contains ``fragment``."""
    for path in sorted((EVENTS / event).glob("*.json")):
        if fragment in path.name:
            loaded: dict[str, Any] = json.loads(path.read_text())
            return copy.deepcopy(loaded)
    raise LookupError(fragment)


needs_events = pytest.mark.skipif(not EVENTS.exists(), reason="../shared/realdata not present")


@needs_events
@pytest.mark.parametrize(
    ("label", "workflow"), review_loops(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_no_real_event_starts_the_review_loop(label: str, workflow: dict[str, Any]) -> None:
    """None of the real payloads is a `/prompt-trainer` command or an event on a bot PR: the
    `/retest` comment on a PR, an ordinary review and review comment start no privileged job."""
    started = [
        event
        for event, payload in real_events()
        if starts(workflow, review_job(workflow), event, payload)
    ]
    assert started == []


@needs_events
@pytest.mark.parametrize(
    ("label", "workflow"), review_loops(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_training_job_starts_for_closed_prs_the_schedule_and_manual_runs(
    label: str, workflow: dict[str, Any]
) -> None:
    job = next(j for j in ("train", "collect-and-propose") if j in workflow["jobs"])
    started = {event for event, payload in real_events() if starts(workflow, job, event, payload)}
    assert started == {"pull_request", "schedule", "workflow_dispatch"}


def comment(body: str, *, on_pr: bool = True, sender: str = "chmouel") -> dict[str, Any]:
    payload = real("issue_comment", "on-pr.retest" if on_pr else "on-issue")
    payload["comment"]["body"] = body
    payload["sender"]["login"] = sender
    return payload


def on_pr(
    event: str, *, head_ref: str, fork: bool = False, body: str | None = None
) -> dict[str, Any]:
    payload = real(event, "")
    payload["pull_request"]["head"]["ref"] = head_ref
    if fork:
        payload["pull_request"]["head"]["repo"]["full_name"] = "stranger/Hello-World"
    section = "review" if event == "pull_request_review" else "comment"
    payload[section]["body"] = body
    return payload


@needs_events
@pytest.mark.parametrize(
    ("label", "workflow"), review_loops(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_review_loop_starts_only_for_commands_and_the_bots_own_prs(
    label: str, workflow: dict[str, Any]
) -> None:
    cases = {
        "command on a PR": ("issue_comment", comment("/prompt-trainer revise\r\nplease"), True),
        "report on a PR": ("issue_comment", comment("/prompt-trainer report bug: x"), True),
        "ordinary PR comment": ("issue_comment", comment("looks good to me"), False),
        "command not first": ("issue_comment", comment("see /prompt-trainer revise"), False),
        "command on an issue": (
            "issue_comment",
            comment("/prompt-trainer revise", on_pr=False),
            False,
        ),
        "command by a bot": (
            "issue_comment",
            comment("/prompt-trainer revise", sender="github-actions[bot]"),
            False,
        ),
    }
    for event in ("pull_request_review", "pull_request_review_comment"):
        cases |= {
            f"{event} on the bot's PR": (
                event,
                on_pr(event, head_ref="prompt-trainer/coder"),
                True,
            ),
            f"{event} on a fork's prompt-trainer/ branch": (
                event,
                on_pr(event, head_ref="prompt-trainer/coder", fork=True),
                False,
            ),
            f"{event} on another PR": (event, on_pr(event, head_ref="changes", body="nit"), False),
            f"{event} with a command on an agent PR": (
                event,
                on_pr(event, head_ref="changes", fork=True, body="/prompt-trainer report bug: x"),
                True,
            ),
        }
    verdicts = {
        case: starts(workflow, review_job(workflow), e, p) for case, (e, p, _) in cases.items()
    }
    assert verdicts == {case: expected for case, (_e, _p, expected) in cases.items()}


def split_workflows() -> list[tuple[str, dict[str, Any]]]:
    """The shipped and documented workflows that run prompt-trainer's jobs."""
    return [(n, d) for n, d in shipped() if n != ".github/workflows/ci.yml" and jobs_of(d)[1:]]


def action_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for s in job.get("steps", [])
        if str(s.get("uses", "")) == "./" or "/prompt-trainer@" in str(s.get("uses", ""))
    ]


def writes(job: dict[str, Any], workflow_permissions: Any) -> bool:
    permissions = job.get("permissions", workflow_permissions)
    return permissions == "write-all" or (
        isinstance(permissions, dict) and "write" in permissions.values()
    )


@pytest.mark.parametrize(
    ("name", "document"), split_workflows(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_no_job_holds_both_the_write_token_and_a_secret_or_runs_a_command_with_either(
    name: str, document: Any
) -> None:
    """On a hosted runner any process in a job can read that job's secrets: the job that writes
    maps no secret and only publishes; the job with the LLM key may only read; the job that
    runs the configured commands holds neither."""
    modes: dict[str, str] = {}
    for job_name, job, permissions in jobs_of(document):
        secret = "secrets." in json.dumps(job)
        (step,) = action_steps(job)
        mode = str((step.get("with") or {}).get("mode", "auto"))
        modes[job_name] = mode
        if writes(job, permissions):
            assert mode == "publish" and not secret, f"{name}: {job_name} writes"
        if secret:
            assert mode == "prepare" and not writes(job, permissions), f"{name}: {job_name}"
        if mode == "evaluate":
            assert not secret and not writes(job, permissions), f"{name}: {job_name}"
    assert {"prepare", "publish"} <= set(modes.values()), name


def group_of(workflow: dict[str, Any], job: str, event: str, payload: dict[str, Any]) -> str:
    github = {"event_name": event, "event": payload, "repository": repository_of(payload)}
    return evaluate(str(workflow["jobs"][job]["concurrency"]["group"]), {"github": github})


@needs_events
@pytest.mark.parametrize(
    ("label", "workflow"), review_loops(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_outsiders_events_queue_apart_from_maintainers(
    label: str, workflow: dict[str, Any]
) -> None:
    """A queued run waits in its concurrency group, and a newer one in the same group replaces
    it: outsiders' commands must not share the maintainers' group, or eight drive-by comments
    cancel the maintainer's queued revision."""
    job = review_job(workflow)

    def by(association: str, sender: str) -> dict[str, Any]:
        payload = comment("/prompt-trainer revise", sender=sender)
        payload["comment"]["author_association"] = association
        return payload

    maintainer = group_of(workflow, job, "issue_comment", by("MEMBER", "maria"))
    outsiders = {
        group_of(workflow, job, "issue_comment", by(association, f"eve{n}"))
        for n, association in enumerate(("NONE", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR"))
    }
    assert len(outsiders) == 1 and maintainer not in outsiders
    review = on_pr("pull_request_review", head_ref="prompt-trainer/coder")
    review["review"]["author_association"] = "OWNER"
    number = str(review["pull_request"]["number"])
    assert group_of(workflow, job, "pull_request_review", review).startswith(
        f"prompt-trainer-review-{number}-"
    )
    assert group_of(workflow, job, "pull_request_review", review).endswith("-maintainers")


def test_expressions_follow_githubs_rules() -> None:
    context = {"github": {"event": {"n": 3, "s": "Abc", "o": {"k": "v"}}, "empty": ""}}
    assert expression("startsWith(github.event.s, 'aB') && 'yes'", context) == "yes"
    assert expression("github.event.missing || 'default'", context) == "default"
    assert expression("github.event.s == 'ABC' && github.event.n == '3'", context) is True
    assert expression("github.event['o'].k != 'v' || !github.empty", context) is True
    assert expression("endsWith(github.event.s, 'x') || contains(github.event.s, 'B')", context)
    assert expression("github.event.missing == ''", context) is True  # null equals ''
    assert expression("github.event.s", context, failed=True) is False  # success() && ...
    assert expression("always() && github.event.s", context, failed=True) == "Abc"


# --- the Action: cache key and uv ------------------------------------------------------------


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
    return loaded


def cache_keys(*, run_id: str, attempt: str, job: str = "train") -> tuple[str, list[str], str]:
    """(restore key, restore-keys prefixes, save key) of one attempt of one run."""
    steps = {
        str(s.get("uses", "")).split("@")[0]: s.get("with", {}) for s in action()["runs"]["steps"]
    }
    restore, save = steps["actions/cache/restore"], steps["actions/cache/save"]
    context = {
        "runner": {"os": "Linux"},
        "github": {"run_id": run_id, "run_attempt": attempt, "job": job, "workflow": "w"},
    }
    prefixes = evaluate(str(restore.get("restore-keys", "")), context).split()
    return evaluate(restore["key"], context), prefixes, evaluate(save["key"], context)


def restores(*, saved: str, key: str, prefixes: list[str]) -> bool:
    return saved == key or any(saved.startswith(prefix) for prefix in prefixes)


def test_the_cache_is_restored_only_from_an_earlier_attempt_of_the_same_run_and_job() -> None:
    _key, _prefixes, first = cache_keys(run_id="100", attempt="1")
    key, prefixes, second = cache_keys(run_id="100", attempt="2")
    assert first != second and key == second
    assert restores(saved=first, key=key, prefixes=prefixes)  # a re-run resumes the failed one
    for other in (
        cache_keys(run_id="99", attempt="1")[2],  # an earlier event's run (a PR, a comment)
        cache_keys(run_id="1000", attempt="1")[2],  # a run id that extends this one
        cache_keys(run_id="100", attempt="1", job="review-loop")[2],
    ):
        assert not restores(saved=other, key=key, prefixes=prefixes), other


def test_uv_is_installed_only_with_a_sha256_per_wheel() -> None:
    requirements = (ROOT / "action" / "uv-requirements.txt").read_text()
    lines = [ln.strip() for ln in requirements.splitlines() if not ln.startswith("#")]
    assert lines[0] == "uv==0.13.9 \\"
    hashes = [ln.split("sha256:")[1].rstrip(" \\") for ln in lines[1:]]
    assert len(hashes) >= 8 and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)
    pinned = "--require-hashes --no-deps --only-binary :all: -r"
    install = next(
        s for s in action()["runs"]["steps"] if "uv-requirements.txt" in s.get("run", "")
    )
    assert f'{pinned} "$ACTION_PATH/action/uv-requirements.txt"' in install["run"]
    setup = (ROOT / "scripts" / "setup").read_text()
    assert f"{pinned} action/uv-requirements.txt" in setup
    for text in (install["run"], setup):
        assert not re.search(r"pip install[^\n]*[\"' ]uv[=<>\"' ]", text)


# --- zizmor and shellcheck --------------------------------------------------------------------


def zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "zizmor"),
            "--offline",
            "--min-severity",
            "medium",
            "--format",
            "plain",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_zizmor_finds_nothing_of_medium_severity_in_the_workflow_init_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".github" / "workflows" / "prompt-trainer.yml"
    path.parent.mkdir(parents=True)
    path.write_text(render_workflow("acme/prompt-trainer@0123456789abcdef0123456789abcdef01234567"))
    done = zizmor(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_flags_the_comment_trigger_without_its_reasoned_ignore(tmp_path: Path) -> None:
    path = tmp_path / "prompt-trainer.yml"
    text = render_workflow("acme/prompt-trainer@0123456789abcdef0123456789abcdef01234567")
    path.write_text(text.replace(" # zizmor: ignore[dangerous-triggers]", ""))
    done = zizmor(path)
    assert done.returncode != 0 and "dangerous-triggers" in done.stdout


def run_scripts() -> list[tuple[str, str]]:
    """The ``run:`` scripts of action.yml and the workflows, with expressions made inert."""
    documents = [("action.yml", action()["runs"]["steps"])]
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
        documents.append((path.name, steps))
    return [
        (
            f"{name}: {step.get('name', step['run'][:30])}",
            re.sub(r"\$\{\{.*?\}\}", "x", step["run"]),
        )
        for name, steps in documents
        for step in steps
        if "run" in step
    ]


@pytest.mark.parametrize(
    ("name", "script"), run_scripts(), ids=lambda v: v if "\n" not in v else ""
)
def test_shellcheck_passes_every_run_script(name: str, script: str, tmp_path: Path) -> None:
    path = tmp_path / "step.sh"
    path.write_text(script)
    done = subprocess.run(
        [str(BIN / "shellcheck"), "--shell=bash", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
