"""``action.yml`` executed the way the runner does (``tests/runner.py``), with every real event
payload in ``../shared/realdata/events``, against the local GitHub and LM servers; and
``prompt-trainer action``'s decisions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from prompt_trainer.cli import main
from prompt_trainer.loop.action import Plan, decide
from prompt_trainer.loop.events import parse
from tests.conftest import REALDATA
from tests.runner import event_env, install_replacement, run_action
from tests.scenarios import arrange, trainer_reply
from tests.servers.github import FakeGitHub, Fault, Pull
from tests.servers.llm import FakeLLM

ROOT = Path(__file__).resolve().parents[1]
EVENTS = REALDATA / "events"
README = ROOT / "README.md"


def payloads() -> list[tuple[str, Path]]:
    if not EVENTS.exists():
        return []
    return sorted((p.parent.name, p) for p in EVENTS.rglob("*.json") if p.name != "EXPECTED.json")


def execute(
    github: FakeGitHub,
    llm: FakeLLM,
    checkout: Path,
    tmp_path: Path,
    *,
    event: str,
    payload: dict[str, Any],
    inputs: dict[str, str] | None = None,
    key: bool = True,
) -> Any:
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    env = event_env(tmp_path, event=event, payload=payload, repository=github.full_name,
                    api_url=github.api_url)  # fmt: skip
    if key:
        env["OPENAI_API_KEY"] = "sk-test"  # the local LM server ignores it
    return run_action(
        ROOT,
        workspace=checkout,
        with_inputs={"api-base": llm.api_base, **(inputs or {})},
        env=env,
        github={"token": github.token, "run_id": "1", "run_attempt": "1", "job": "propose"},
        temp=temp,
        replace=install_replacement(temp),
    )


@pytest.mark.skipif(not EVENTS.exists(), reason="../shared/realdata not present")
@pytest.mark.parametrize(("event", "path"), payloads(), ids=lambda v: getattr(v, "name", v))
def test_every_real_event_runs_and_exits_0(
    github: FakeGitHub,
    llm: FakeLLM,
    checkout: Path,
    tmp_path: Path,
    event: str,
    path: Path,
) -> None:
    """The numbers in these payloads are other repositories' PRs: they exist here as plain PRs
    by their authors, so each event takes its real branch and ends with the reason it stops."""
    arrange(github)
    llm.script = [trainer_reply]
    payload = json.loads(path.read_text())
    for section in ("pull_request", "issue"):
        number = (payload.get(section) or {}).get("number")
        if isinstance(number, int) and number not in github.pulls:
            user = ((payload.get(section) or {}).get("user") or {}).get("login", "someone")
            head = github.refs["heads/main"]
            github.add_pull(
                Pull(number, "theirs", "feature", head, "main", head, author=user, state="closed")
            )
    run = execute(github, llm, checkout, tmp_path, event=event, payload=payload)
    assert run.returncode == 0, run.log
    # A scheduled or dispatched run backfills agent PR #7 and proposes; no other event of
    # another repository's PR reaches a proposal.
    proposes = event in ("schedule", "workflow_dispatch")
    assert run.outputs["operation"] == ("created" if proposes else "none")
    summary = (tmp_path / "runner-temp" / "step-summary.md").read_text()
    assert f"**prompt-trainer** ({event})" in summary
    assert ".prompt-trainer/cache" in run.cached_paths
    if event in ("push", "workflow_run"):
        assert "nothing to do for the" in run.log
    if event == "pull_request":
        assert "not an agent PR" in run.log


def test_a_closed_agent_pr_is_collected_and_proposed_with_outputs(
    github: FakeGitHub, llm: FakeLLM, checkout: Path, tmp_path: Path
) -> None:
    arrange(github)
    llm.script = [trainer_reply]
    payload = {
        "action": "closed",
        "pull_request": {
            "number": 7,
            "user": {"login": "claude[bot]"},
            "labels": [],
            "head": {"repo": {"full_name": github.full_name}},
            "base": {"repo": {"full_name": github.full_name}},
        },
    }
    run = execute(github, llm, checkout, tmp_path, event="pull_request", payload=payload)
    assert run.returncode == 0, run.log
    assert run.outputs["operation"] == "created"
    pull = github.pulls[int(run.outputs["pull-request-number"])]
    assert pull.head_ref == "prompt-trainer/coder"
    assert run.outputs["pull-request-url"].endswith(f"/pull/{pull.number}")
    assert int(run.outputs["tokens"]) > 0 and run.outputs["candidate-dir"]
    assert json.loads(run.outputs["proposals"])[0]["operation"] == "created"
    warnings = [ln for ln in run.log.splitlines() if ln.startswith("::warning ")]
    assert warnings and len(warnings) <= 10
    assert "title=prompt-trainer%3A failed in 1 run(s)::tests.test_fees::test_rounding" in run.log
    run_dir = Path(run.outputs["run-dir"])
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    assert run.uploaded == {f"prompt-trainer-run-propose-{run_dir.name}": str(run_dir)}
    assert ".prompt-trainer/runs" in run.saved_paths


def test_a_failing_run_still_saves_and_uploads_its_run_directory(
    github: FakeGitHub, llm: FakeLLM, checkout: Path, tmp_path: Path
) -> None:
    arrange(github)
    llm.script = [trainer_reply]
    github.faults.append(Fault("POST", r"/pulls", 400, times=99, message="stopped here"))
    payload = {"action": "closed", "pull_request": {"number": 7, "user": {"login": "claude[bot]"}}}
    run = execute(github, llm, checkout, tmp_path, event="pull_request", payload=payload)
    assert run.returncode == 3
    ((_name, path),) = run.uploaded.items()
    status = json.loads((Path(path) / "status.json").read_text())
    assert status["state"] == "failed" and "stopped here" in status["message"]
    assert ".prompt-trainer/runs" in run.saved_paths  # so that a re-run of the job resumes


def test_a_pr_from_a_fork_is_collected_without_llm_calls(
    github: FakeGitHub, llm: FakeLLM, checkout: Path, tmp_path: Path
) -> None:
    arrange(github)
    payload = {
        "action": "closed",
        "pull_request": {
            "number": 7,
            "user": {"login": "claude[bot]"},
            "head": {"repo": {"full_name": "someone/fork"}},
            "base": {"repo": {"full_name": github.full_name}},
        },
    }
    run = execute(github, llm, checkout, tmp_path, event="pull_request", payload=payload)
    assert run.returncode == 0, run.log
    assert "PR from a fork" in run.log and not llm.requests
    assert (checkout / ".prompt-trainer" / "samples.jsonl").exists()


def test_without_the_llm_secret_evidence_is_still_collected(
    github: FakeGitHub, llm: FakeLLM, checkout: Path, tmp_path: Path
) -> None:
    arrange(github)
    payload = {"action": "closed", "pull_request": {"number": 7, "user": {"login": "claude[bot]"}}}
    run = execute(
        github,
        llm,
        checkout,
        tmp_path,
        event="pull_request",
        payload=payload,
        inputs={"api-base": ""},
        key=False,
    )
    assert run.returncode == 0, run.log
    assert "training skipped: no API key" in run.log and not llm.requests
    assert "prompt-trainer-data" in {r.removeprefix("heads/") for r in github.refs}


def test_schedule_backfills_reports_and_proposes(
    github: FakeGitHub, llm: FakeLLM, checkout: Path, tmp_path: Path
) -> None:
    arrange(github)
    llm.script = [trainer_reply]
    run = execute(
        github, llm, checkout, tmp_path, event="schedule", payload={"schedule": "0 6 * * 1"}
    )
    assert run.returncode == 0, run.log
    summary = (tmp_path / "runner-temp" / "step-summary.md").read_text()
    assert "collected 1 agent PR(s)" in summary and "# prompt-trainer report: `coder`" in summary
    assert run.outputs["operation"] == "created"


def test_inputs_reach_code_only_through_env() -> None:
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    for step in spec["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")


def test_action_inputs_are_documented_in_the_readme_table() -> None:
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    table = re.findall(
        r"^\| `([a-z0-9-]+)` \|",
        README.read_text().split("Action inputs:")[1].split("\n\n", 2)[1],
        re.M,
    )
    assert table == list(spec["inputs"])
    outputs = README.read_text().split("Action outputs:")[1].split("\n\n", 2)[1]
    assert re.findall(r"^\| `([a-z0-9-]+)` \|", outputs, re.M) == list(spec["outputs"])


def test_decisions() -> None:
    closed = {"action": "closed", "pull_request": {"number": 1}}
    assert decide(parse("pull_request", closed), "auto") == Plan("pr")
    opened = decide(parse("pull_request", {"action": "opened"}), "auto")
    assert opened == Plan("none", "pull_request opened: only closed PRs are evidence")
    assert decide(parse("pull_request_target", closed), "auto") == Plan("pr")
    assert decide(parse("schedule", {}), "auto") == Plan("backfill")
    assert decide(parse("issue_comment", {}), "auto") == Plan("revise")
    assert decide(parse("push", {}), "auto") == Plan("none", "nothing to do for the push event")
    assert str(decide(parse("push", {}), "auto")) == "none:nothing to do for the push event"
    assert decide(parse("push", {}), "report") == Plan("report")


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_a_missing_or_garbled_event_file_does_nothing_and_says_why(
    checkout: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
) -> None:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.chdir(checkout)
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(path)}
    assert main(["action"], env=env) == 0
    err = capsys.readouterr().err
    assert "action: nothing done: " in err and str(path) in err
