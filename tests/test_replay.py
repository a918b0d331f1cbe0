"""The replay: a real small repository, a deterministic fake agent, real git worktrees and a real
pytest run writing JUnit. The agent writes the exact (Decimal) implementation only when the prompt
file it finds in its worktree tells it to use Decimal, so the current prompts fail and a candidate
with that rule passes."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prompt_trainer import replay
from prompt_trainer.cli import main
from prompt_trainer.evaluate import evaluate_candidate, replay_problems
from prompt_trainer.loop.action import replay_note
from prompt_trainer.models import (
    Candidate,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    ReplayRun,
    ReplayTask,
    Sample,
    TokenUsage,
)
from prompt_trainer.render import ProposalView, render_body
from prompt_trainer.settings import ReplayOptions, Settings
from prompt_trainer.store import open_ledger
from prompt_trainer.targets import LocalSource, load_prompt_set
from tests.jobs import run_jobs
from tests.scenarios import CONFIG
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM
from tests.test_config_trust import pr_event, set_default_branch_config
from tests.test_faults import bot_pulls

RULES = "# Rules\n\nWrite small functions.\n"
RULE = "# Rules\n\nWrite small functions.\n- Use Decimal for money, never float.\n"
MODULE = "def total(prices):\n    raise NotImplementedError\n"
TEST = """from decimal import Decimal

from money import total


def test_the_total_is_exact():
    assert total(["0.10", "0.20"]) == Decimal("0.30")
"""
AGENT = """import os, pathlib, sys, time
task = os.environ["PROMPT_TRAINER_TASK"]
assert pathlib.Path(os.environ["PROMPT_TRAINER_TASK_FILE"]).read_text() == task
print("agent", os.environ["PROMPT_TRAINER_VARIANT"], os.environ["PROMPT_TRAINER_SAMPLE"])
print("token seen:", "GITHUB_TOKEN" in os.environ)
if "hang" in task and os.environ["PROMPT_TRAINER_VARIANT"] == "current":
    time.sleep(60)
rules = pathlib.Path("CLAUDE.md").read_text()
if "Decimal" in rules:
    code = "from decimal import Decimal\\n\\ndef total(prices):\\n"
    code += "    return sum((Decimal(p) for p in prices), Decimal(0))\\n"
else:
    code = "def total(prices):\\n    return sum(float(p) for p in prices)\\n"
pathlib.Path("money.py").write_text(code)
result = {"type": "result", "subtype": "success", "is_error": False, "num_turns": 1,
          "total_cost_usd": 0.01, "usage": {"input_tokens": 100, "output_tokens": 20}}
pathlib.Path(".replay").mkdir(exist_ok=True)
pathlib.Path(".replay/trace.jsonl").write_text(__import__("json").dumps(result) + "\\n")
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def make_repo(tmp_path: Path, *, test_command: str | None = None, timeout_s: int = 120) -> Path:
    """A repository with a module, a test that needs Decimal, CLAUDE.md and the config."""
    repo = tmp_path / "repo"
    repo.mkdir()
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    python = shlex.quote(sys.executable)
    tests = test_command or (
        f'{python} -m pytest -q -p no:cacheprovider --junitxml "$PROMPT_TRAINER_JUNIT" '
        "test_money.py"
    )
    config = {
        "targets": [{"name": "coder", "main": "CLAUDE.md"}],
        "store": {"branch": None},
        "training": {"holdout": 0.5},
        "replay": {
            "agent_command": f"{python} {shlex.quote(str(agent))}",
            "test_command": tests,
            "timeout_s": timeout_s,
            "trace_glob": ".replay/*.jsonl",
        },
    }
    files = {
        "CLAUDE.md": RULES,
        "money.py": MODULE,
        "test_money.py": TEST,
        ".gitignore": ".prompt-trainer/\n__pycache__/\n",
        ".github/prompt-trainer.yml": json.dumps(config),
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    return repo


def settings_of(repo: Path, env: dict[str, str] | None = None) -> Settings:
    return Settings.load(repo / ".github/prompt-trainer.yml", env or {}, root=repo)


def sample(repo: Path, number: int, *, title: str = "Add total()", base: str | None = "HEAD",
           body: str = "Sum the prices in money.total.") -> Sample:  # fmt: skip
    settings = settings_of(repo)
    version = load_prompt_set(settings.target("coder"), LocalSource(repo)).version
    closed = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=number)
    sha = git(repo, "rev-parse", base).strip() if base == "HEAD" else base
    pull = PullRequestInfo(number=number, title=title, body=body, base_sha=sha, closed_at=closed)
    return Sample(
        id=f"acme/widgets#{number}", pull=pull, prompt_versions={"coder": version},
        collected_at=closed,
    )  # fmt: skip


def candidate_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "candidate"
    folder.mkdir()
    (folder / "CLAUDE.md").write_text(RULE)
    return folder


def state(repo: Path) -> tuple[str, str, str, str]:
    """What the user sees of the checkout: status, branches, HEAD and the worktrees."""
    return (
        git(repo, "status", "--porcelain", "--ignored=no"),
        git(repo, "branch", "--list"),
        git(repo, "rev-parse", "HEAD"),
        git(repo, "worktree", "list", "--porcelain"),
    )


def test_current_fails_and_a_candidate_with_the_decimal_rule_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path)
    open_ledger(repo).upsert([sample(repo, 1), sample(repo, 2)])  # the newer one is held out
    before = state(repo)
    monkeypatch.chdir(repo)
    env = {"PATH": "/usr/bin:/bin", "GITHUB_TOKEN": "ghs_secret"}
    code = main(["replay", "--target", "coder", "--candidate", str(candidate_dir(tmp_path)),
                 "--json", "-q"], env=env)  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [(t["sample"], t["current"], t["candidate"]) for t in result["tasks"]] == [
        ("acme/widgets#2", [False], [True])
    ]
    assert result["variants"] == {
        "current": {"runs": 1, "passed": 0},
        "candidate": {"runs": 1, "passed": 1},
    }
    assert (result["decided_tasks"], result["p_value"]) == (1, 1.0)
    assert result["verdict"] == "too few to judge"
    current, candidate = sorted(result["tasks"][0]["runs"], key=lambda r: r["variant"] != "current")
    assert current["reason"] == "tests: 1 of 1 failed or errored"
    assert (candidate["tests"], candidate["reason"]) == (1, "")
    assert result["cost"]["input_tokens"] == 200 and result["cost"]["usd"] == pytest.approx(0.02)
    agent_log = (Path(candidate["folder"]) / "agent.log").read_text()
    assert "agent candidate acme/widgets#2" in agent_log and "token seen: False" in agent_log
    assert list(Path(candidate["folder"]).glob("traces/*trace.jsonl"))
    assert json.loads((Path(result["folder"]) / "result.json").read_text())["verdict"]
    assert state(repo) == before


HOOK_AGENT = """import os, pathlib, subprocess
common = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True,
                        text=True, check=True).stdout.strip()
hooks = pathlib.Path(common) / "hooks"
hooks.mkdir(exist_ok=True)
for name in ("post-checkout", "reference-transaction", "post-index-change"):
    hook = hooks / name
    hook.write_text("#!/bin/sh\\n{ env; tr '\\\\0' '\\\\n' < /proc/$PPID/environ; } >> " + os.environ["LOOT"] + "\\n")
    hook.chmod(0o755)
"""


def test_a_git_hook_the_agent_plants_never_runs_with_prompt_trainers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent writes hooks into the repository its worktree shares; the next ``git worktree
    add`` (and remove) ran them with the process environment, token and key included."""
    repo = make_repo(tmp_path)
    agent, loot = tmp_path / "hook_agent.py", tmp_path / "loot.txt"
    agent.write_text(HOOK_AGENT)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_canary_write_token")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-trainer-key")
    settings = Settings.load(
        repo / ".github/prompt-trainer.yml", {"PATH": "/usr/bin:/bin", "LOOT": str(loot)},
        root=repo,
    )  # fmt: skip
    config = settings.config
    replay_options = config.replay.model_copy(
        update={"agent_command": f"{shlex.quote(sys.executable)} {shlex.quote(str(agent))}"}
    )
    training = config.training.model_copy(update={"eval_pass_env": ("LOOT",)})
    settings = settings.with_config(
        config.model_copy(update={"replay": replay_options, "training": training})
    )
    replay.replay(
        settings, settings.target("coder"), (PromptFile(path="CLAUDE.md", content=RULE),),
        [sample(repo, 1), sample(repo, 2)], repeat=2, log=print,
    )  # fmt: skip
    assert (repo / ".git" / "hooks" / "post-checkout").exists()  # the agent did plant it
    assert not loot.exists(), loot.read_text()[:500]


def test_the_table_shows_each_task_the_runs_and_the_rule(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    settings = settings_of(repo)
    target = settings.target("coder")
    candidate = (PromptFile(path="CLAUDE.md", content=RULE),)
    result = replay.replay(
        settings, target, candidate, [sample(repo, 1), sample(repo, 2)], repeat=2, log=print
    )
    runs = result.tasks[0].runs
    assert [r.variant for r in runs] == ["current", "candidate", "candidate", "current"]
    text = replay.table(result)
    assert "acme/widgets#2  0/2      2/2" in text
    assert "runs passed: current 0/4" not in text and "current 0/2, candidate 2/2" in text
    assert "too few to judge below 6" in text


def test_an_agent_that_times_out_is_a_failed_run_with_the_reason(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, timeout_s=1)
    settings = settings_of(repo)
    hanging = [sample(repo, 1), sample(repo, 2, title="hang forever")]
    result = replay.replay(
        settings, settings.target("coder"), (PromptFile(path="CLAUDE.md", content=RULE),),
        hanging, log=print,
    )  # fmt: skip
    runs = {r.variant: r for r in result.tasks[0].runs}
    assert runs["current"].reason == "agent: timed out after 1 s (replay.timeout_s)"
    assert not runs["current"].passed and runs["current"].tests == 0  # the tests did not run
    assert runs["candidate"].passed
    assert git(repo, "worktree", "list").count("\n") == 1


def test_a_test_command_that_writes_no_report_is_a_failed_run_with_the_reason(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path, test_command="echo no report here")
    settings = settings_of(repo)
    result = replay.replay(
        settings, settings.target("coder"), (PromptFile(path="CLAUDE.md", content=RULE),),
        [sample(repo, 1), sample(repo, 2)], log=print,
    )  # fmt: skip
    for run in result.tasks[0].runs:
        assert not run.passed
        assert run.reason == (
            "tests: exited 0 without writing $PROMPT_TRAINER_JUNIT: no report here"
        )


def test_samples_without_a_task_or_a_base_commit_are_skipped_with_the_reason(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path)
    version = load_prompt_set(settings_of(repo).target("coder"), LocalSource(repo)).version
    samples = [
        sample(repo, 1, title="", body=""),
        sample(repo, 2, base=None),
        sample(repo, 3, base="0" * 40),
        sample(repo, 4),
    ]
    tasks, skipped = replay.select_tasks(samples, "coder", version, root=repo, holdout=0, limit=5)
    assert [t.sample for t in tasks] == ["acme/widgets#4"]
    assert [(s.source, s.reason) for s in skipped] == [
        ("acme/widgets#3", "base commit 000000000000 is not in this clone (fetch it, e.g. "
         "actions/checkout with fetch-depth: 0)"),
        ("acme/widgets#2", "no base commit recorded for the pull request"),
        ("acme/widgets#1", "no task: the pull request has no title or body"),
    ]  # fmt: skip


def test_the_verdict_needs_six_decided_tasks_and_p_below_five_percent() -> None:
    def task(n: int, current: bool, candidate: bool) -> ReplayTask:
        runs = (
            ReplayRun(variant="current", repeat=1, passed=current),
            ReplayRun(variant="candidate", repeat=1, passed=candidate),
        )
        return ReplayTask(sample=f"s{n}", base_sha="a", runs=runs)

    five = tuple(task(n, False, True) for n in range(5))
    assert replay.summarize("coder", five).verdict == "too few to judge"
    six = (*five, task(5, False, True), task(6, True, True))
    better = replay.summarize("coder", six)
    assert (better.decided_tasks, better.verdict) == (6, "better")
    assert better.p_value == pytest.approx(2 / 64)
    worse = replay.summarize("coder", tuple(task(n, True, False) for n in range(7)))
    assert worse.verdict == "worse"
    mixed = tuple(task(n, n % 2 == 0, n % 2 == 1) for n in range(8))
    assert replay.summarize("coder", mixed).verdict == "no difference"


def test_the_latest_candidate_folder_is_the_default(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    target = settings_of(repo).target("coder")
    for number, text in ((1, RULES), (12, RULE)):
        folder = repo / ".prompt-trainer/candidates/coder" / f"candidate-{number:03d}"
        folder.mkdir(parents=True)
        (folder / "CLAUDE.md").write_text(text)
        (folder / "candidate.json").write_text(json.dumps({"files": ["CLAUDE.md"]}))
    folder, files = replay.load_candidate(repo, target, None)
    assert folder.name == "candidate-012" and files[0].content == RULE


def gate_repo(tmp_path: Path) -> tuple[Settings, Path]:
    repo = make_repo(tmp_path)
    path = repo / ".github/prompt-trainer.yml"
    config = json.loads(path.read_text())
    config["training"]["gate"] = "replay"
    path.write_text(json.dumps(config))
    return settings_of(repo), repo


def candidate_of(settings: Settings) -> tuple[Candidate, PromptSet]:
    current = load_prompt_set(settings.target("coder"), LocalSource(settings.root))
    candidate = Candidate(
        target="coder", base_version=current.version,
        files=(PromptFile(path="CLAUDE.md", content=RULE),), analysis_summary="use Decimal",
        usage=TokenUsage(), sample_ids=("acme/widgets#1",),
    )  # fmt: skip
    return candidate, current


def test_the_replay_gate_records_the_result_and_the_pr_body_shows_the_table(
    tmp_path: Path,
) -> None:
    settings, repo = gate_repo(tmp_path)
    candidate, current = candidate_of(settings)
    checked = evaluate_candidate(
        candidate, current, settings.target("coder"), settings=settings, log=print,
        samples=[sample(repo, 1), sample(repo, 2)],
    )  # fmt: skip
    assert checked.gate.passed and checked.candidate.replay is not None
    assert checked.candidate.replay.verdict == "too few to judge"
    view = ProposalView(
        candidate=checked.candidate, current=current, samples=[], model="openai/gpt-4.1"
    )
    body = render_body(view)
    assert "| acme/widgets#2 | 0/1 | 1/1 |" in body
    assert "**too few to judge**: 1 task(s) where the pass rates differ, 1 of them" in body


def test_on_other_events_the_replay_is_not_run_and_does_not_block(tmp_path: Path) -> None:
    settings, repo = gate_repo(tmp_path)
    candidate, current = candidate_of(settings)
    note = replay_note("pull_request")
    checked = evaluate_candidate(
        candidate, current, settings.target("coder"), settings=settings, log=print,
        samples=[sample(repo, 1), sample(repo, 2)], replay_skipped=note,
    )  # fmt: skip
    assert checked.gate.passed
    assert checked.candidate.replay is not None and checked.candidate.replay.not_run == note
    assert not replay_note("workflow_dispatch") and not replay_note("schedule")
    assert not (repo / ".prompt-trainer/replay").exists()  # nothing ran
    body = render_body(
        ProposalView(candidate=checked.candidate, current=current, samples=[], model="m")
    )
    assert "not run: replay runs only on workflow_dispatch or schedule" in body


def test_a_worse_replay_verdict_blocks_and_five_decided_tasks_do_not() -> None:
    runs = (
        ReplayRun(variant="current", repeat=1, passed=True),
        ReplayRun(variant="candidate", repeat=1, passed=False),
    )
    tasks = tuple(ReplayTask(sample=f"s{n}", base_sha="a", runs=runs) for n in range(6))
    worse = replay.summarize("coder", tasks)
    assert replay_problems(worse) == [
        "replay: the candidate passes fewer held-out tasks than the current prompts "
        "(0 of 6 differing tasks better, sign test p=0.031)"
    ]
    assert replay_problems(replay.summarize("coder", worse.tasks[:5])) == []


def test_the_gate_blocks_when_the_replay_commands_are_missing(tmp_path: Path) -> None:
    settings, repo = gate_repo(tmp_path)
    bare = settings.config.model_copy(update={"replay": ReplayOptions()})
    settings = settings.with_config(bare)
    candidate, current = candidate_of(settings)
    checked = evaluate_candidate(
        candidate, current, settings.target("coder"), settings=settings, log=print,
        samples=[sample(repo, 1), sample(repo, 2)],
    )  # fmt: skip
    assert checked.gate.problems == (
        "training.gate is replay, but replay.agent_command and replay.test_command are not "
        "both set",
    )


def action_config(ran: Path) -> str:
    """The shared scenario's config with the replay gate and commands that leave a mark."""
    replay_section = {
        "agent_command": f"touch {shlex.quote(str(ran))}",
        "test_command": 'printf \'<testsuite tests="1"><testcase name="a"/></testsuite>\' '
        '> "$PROMPT_TRAINER_JUNIT"',
    }
    text = CONFIG.replace("training:\n", "training:\n  gate: replay\n")
    return text + "replay: " + json.dumps(replay_section) + "\n"


@pytest.mark.parametrize(
    ("event", "shown"),
    [
        ("pull_request", "not run: replay runs only on workflow_dispatch or schedule"),
        ("workflow_dispatch", "**too few to judge**: 0 task(s)"),
    ],
)
def test_the_action_replays_only_on_dispatch_and_schedule(
    github: FakeGitHub,
    llm: FakeLLM,
    ready: Path,
    github_env: dict[str, str],
    tmp_path: Path,
    event: str,
    shown: str,
) -> None:
    """The replay is a configured command: the workflow runs prepare, evaluate and publish,
    and only the evaluate job replays (on dispatch and schedule)."""
    ran = tmp_path / "ran"
    text = action_config(ran)
    set_default_branch_config(github, text)
    (ready / ".github/prompt-trainer.yml").write_text(text)
    env = pr_event(tmp_path, github_env, event)
    code, prepared = run_jobs(
        github, llm, tmp_path, {k: v for k, v in env.items() if k.startswith("GITHUB_EVENT")}
    )
    assert code == 0
    assert prepared["evaluate"] == ("true" if event == "workflow_dispatch" else "false")
    (number,) = bot_pulls(github)
    body = github.pulls[number].body or ""
    assert shown in body
    assert not ran.exists()  # on dispatch: the scenario's sample has no base commit in a clone
    if event == "workflow_dispatch":
        assert "no base commit recorded" in body or "is not in this clone" in body


def test_no_run_starts_once_the_traces_report_replay_max_usd(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    settings = settings_of(repo)
    capped = settings.config.replay.model_copy(update={"max_usd": 0.01})
    settings = settings.with_config(settings.config.model_copy(update={"replay": capped}))
    result = replay.replay(
        settings, settings.target("coder"), (PromptFile(path="CLAUDE.md", content=RULE),),
        [sample(repo, 1), sample(repo, 2)], log=print,
    )  # fmt: skip
    assert len(result.tasks[0].runs) == 1  # each run's trace reports $0.01
    assert result.stopped == "stopped after $0.01 of traced cost (replay.max_usd=0.01)"
    assert (result.decided_tasks, result.verdict) == (0, "too few to judge")


def test_tasks_and_repeat_must_be_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--target", "coder", "--tasks", "0"], env={})
    assert "'0' is not a whole number of at least 1" in capsys.readouterr().err
