"""What issue 25 adds to a proposal travels through the split jobs (``action --mode prepare``,
then ``publish``, each on a fresh runner): the per-edit held-out results and the clusters in the
bundled candidate (``evaluation.json``'s keys) and in the PR body the publish job opens; the
gate's draft, opened as a draft by the publish job (and decided again there, from the
candidate's evaluation and its own configuration); each change's clusters in the state block;
what earlier merges did, in the PR body and the dashboard; and the bullet ledger
(``bullets.jsonl``), written to the data branch by the publish job, never by the prepare job.

The scenario is ``tests/test_judge.py``'s: 20 stored PRs of the invoice service on the data
branch, 6 rounding failures, 6 second HTTP clients, 8 without a problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.cli import main
from prompt_trainer.evaluate.effects import per_edit_json
from prompt_trainer.loop.bundle import read_bundle, write_bundle
from prompt_trainer.memory import BULLETS, BulletEntry, dumps
from prompt_trainer.render.state import read_state
from prompt_trainer.settings import Target
from prompt_trainer.targets import LocalSource, load_prompt_set
from tests.jobs import job_env, outputs
from tests.servers.github import FakeGitHub, Issue
from tests.servers.llm import FakeLLM
from tests.test_dashboard import MERGED_30, MERGED_30_ROW
from tests.test_followup import bot_pull
from tests.test_judge import CONFIG, MAIN, ROUND_RULE, discerning, judged_as, pr, script

DATA = "prompt-trainer-data"
SAMPLES = ".prompt-trainer/samples.jsonl"
LABEL = "prompt-trainer-dashboard"


@pytest.fixture
def invoices(github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The invoice service on the local GitHub server and in the checkout (the working
    directory), its 20 PRs on the data branch; the event of a manual run."""
    root = tmp_path / "repo"
    (root / ".github").mkdir(parents=True)
    files = {".github/prompt-trainer.yml": CONFIG, "CLAUDE.md": MAIN}
    for path, text in files.items():
        (root / path).write_text(text)
    github.commit(dict(files), branch="main")
    version = load_prompt_set(Target(name="coder", main="CLAUDE.md"), LocalSource(root)).version
    kinds = ["rounding", "client", "clean", "clean"] * 4 + ["rounding", "client"] * 2
    stored = [pr(100 + n, kind, version).model_dump_json() for n, kind in enumerate(kinds)]
    github.commit({SAMPLES: "\n".join(stored) + "\n"}, branch=DATA)
    monkeypatch.chdir(root)
    payload = {"inputs": {}, "repository": {"default_branch": "main"}, "sender": {"login": "maria"}}
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    return {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_EVENT_PATH": str(event)}


def configure(github: FakeGitHub, extra: str) -> None:
    """The configuration with ``extra`` appended, in the checkout and on the default branch."""
    config = CONFIG + extra
    Path(".github/prompt-trainer.yml").write_text(config)
    github.commit({".github/prompt-trainer.yml": config}, parent=github.refs["heads/main"],
                  branch="main")  # fmt: skip


def prepare(github: FakeGitHub, llm: FakeLLM, tmp_path: Path, event: dict[str, str]) -> str:
    """The prepare job; its bundle's sha256. Then the runner is gone: the checkout's
    ``.prompt-trainer/`` (ledgers, candidates, runs) is not there for the publish job."""
    read = job_env(github, tmp_path, "prepare", token="test-read-token", key=True)
    read["PROMPT_TRAINER_API_BASE"] = llm.api_base
    folder = str(tmp_path / "bundle")
    assert main(["action", "--mode", "prepare", "--bundle", folder], env={**read, **event}) == 0
    assert not github.refused_writes  # the prepare job never even tried to write
    return outputs(tmp_path, "prepare")["bundle-sha256"]


def fresh_runner() -> None:
    shutil.rmtree(".prompt-trainer", ignore_errors=True)


def publish(github: FakeGitHub, tmp_path: Path, event: dict[str, str], digest: str) -> None:
    write = job_env(github, tmp_path, "publish", token=github.token, key=False)
    code = main(["action", "--mode", "publish", "--bundle", str(tmp_path / "bundle"),
                 "--bundle-sha256", digest], env={**write, **event})  # fmt: skip
    assert code == 0


def proposals(github: FakeGitHub) -> list[Any]:
    return [p for p in github.pulls.values() if p.head_ref == "prompt-trainer/coder"]


def dashboard(github: FakeGitHub) -> Issue:
    (board,) = [i for i in github.issues.values() if LABEL in i.labels]
    return board


def test_the_per_edit_results_and_clusters_travel_in_the_bundle_to_the_published_body(
    github: FakeGitHub, llm: FakeLLM, tmp_path: Path, invoices: dict[str, str]
) -> None:
    script(llm, judged_as(discerning))
    digest = prepare(github, llm, tmp_path, invoices)
    written = json.loads(
        Path(".prompt-trainer/candidates/coder/candidate-001/evaluation.json").read_text()
    )
    fresh_runner()
    (intent,) = read_bundle(tmp_path / "bundle", sha256=digest).proposals
    bundled = json.loads(json.dumps(per_edit_json(intent.candidate)))
    assert bundled == {k: written[k] for k in bundled}  # clusters, support, edits: all of them
    assert [e["outcome"] for e in bundled["edits"]] == ["effective", "effective"]
    publish(github, tmp_path, invoices, digest)
    (pull,) = proposals(github)
    body = pull.body or ""
    assert not pull.draft
    assert "**2 of 2 edit(s) effective**" in body
    assert "Held-out evaluation, per edit: 8 held-out failure(s) in 8 PR(s)" in body
    assert "| 4 of 4 prevented | 0 of 4 | **effective** (p = 0.014) |" in body
    assert "Held out: prevents 4 of 4 held-out failures of its kind" in body
    state = read_state(body)
    assert state is not None and state.commit == pull.head_sha  # written again by publish
    clusters = [c.clusters for c in state.changes]
    assert all(len(c) == 1 for c in clusters) and clusters[0] != clusters[1]
    assert len(state.held_out_ids) == 10  # 8 held-out failures' PRs and 2 checked


def test_a_candidate_the_gate_drafts_is_opened_as_a_draft_by_the_publish_job(
    github: FakeGitHub, llm: FakeLLM, tmp_path: Path, invoices: dict[str, str]
) -> None:
    """A judge that says "prevents" to everything: no edit is shown to work, and under
    ``training.require_improvement: draft`` the candidate is opened as a draft, saying why in
    the body and on the dashboard."""
    configure(github, "training:\n  require_improvement: draft\n")
    script(llm, judged_as(lambda diff, failure: "prevents"))
    digest = prepare(github, llm, tmp_path, invoices)
    (intent,) = read_bundle(tmp_path / "bundle", sha256=digest).proposals
    assert intent.draft and intent.draft[0].startswith(
        "held-out: judge lenient: said prevents to 8 of 8"
    )
    fresh_runner()
    publish(github, tmp_path, invoices, digest)
    (pull,) = proposals(github)
    assert pull.draft
    assert "> [!NOTE]\n> Opened as a draft" in (pull.body or "")
    assert "Opened as a draft:\n\n- `coder`: held-out: judge lenient: said prevents to 8 of 8" in (
        dashboard(github).body or ""
    )
    assert "coder: created" in (tmp_path / "publish.md").read_text()


def test_the_publish_job_decides_the_draft_again_from_the_candidates_evaluation(
    github: FakeGitHub, llm: FakeLLM, tmp_path: Path, invoices: dict[str, str]
) -> None:
    """A bundle that lost the draft's reasons (a prepare job with a bug) still opens a draft:
    the publish job reads the held-out results the candidate carries under its own config."""
    configure(github, "training:\n  require_improvement: draft\n")
    script(llm, judged_as(lambda diff, failure: "prevents"))
    folder = tmp_path / "bundle"
    bundle = read_bundle(folder, sha256=prepare(github, llm, tmp_path, invoices))
    fresh_runner()
    (intent,) = bundle.proposals
    forged = bundle.model_copy(update={"proposals": (intent.model_copy(update={"draft": ()}),)})
    publish(github, tmp_path, invoices, write_bundle(folder, forged))
    (pull,) = proposals(github)
    assert pull.draft


def test_under_require_improvement_the_publish_job_refuses_what_the_evaluation_refuses(
    github: FakeGitHub, llm: FakeLLM, tmp_path: Path, invoices: dict[str, str]
) -> None:
    """The prepare job ran under ``require_improvement: draft``; the publish job's configuration
    (the default branch's, since changed) says ``true``: the unproven candidate is not proposed."""
    configure(github, "training:\n  require_improvement: draft\n")
    script(llm, judged_as(lambda diff, failure: "prevents"))
    digest = prepare(github, llm, tmp_path, invoices)
    fresh_runner()
    configure(github, "")
    publish(github, tmp_path, invoices, digest)
    assert not proposals(github)
    summary = (tmp_path / "publish.md").read_text()
    assert "held-out: judge lenient: said prevents to 8 of 8 failures of other kinds" in summary
    assert "training.require_improvement is on" in summary


def test_the_bullet_ledger_reaches_the_data_branch_through_the_publish_job(
    github: FakeGitHub, llm: FakeLLM, tmp_path: Path, invoices: dict[str, str]
) -> None:
    """Merged proposal #30 added a bullet of the current prompts. The prepare job (read-only)
    records its ledger entry, with what it observed of it (the version that introduced it);
    the publish job, on a fresh runner, writes it to the data branch beside the samples."""
    change = {"path": "CLAUDE.md", "op": "add", "text": "Write tests with pytest under `tests/`.",
              "evidence": []}  # fmt: skip
    bot_pull(github, 30, merged=True, state={"target": "coder", "changes": [change]})
    script(llm, judged_as(discerning))
    digest = prepare(github, llm, tmp_path, invoices)
    assert BULLETS not in github.files_at(DATA)
    fresh_runner()
    publish(github, tmp_path, invoices, digest)
    lines = github.files_at(DATA)[BULLETS].splitlines()
    (entry,) = [e for e in map(BulletEntry.model_validate_json, lines) if e.pull == 30]
    assert entry.text == change["text"] and entry.approved
    assert entry.introduced is not None  # observed by the prepare job, which read the history


def test_what_earlier_merges_did_is_in_the_published_body_and_dashboard(
    github: FakeGitHub, llm: FakeLLM, tmp_path: Path, invoices: dict[str, str]
) -> None:
    """The data branch's bullet ledger says #30's rule targeted the rounding failures: 4 of 6
    PRs before it, 1 of 6 since."""
    github.commit({BULLETS: dumps([MERGED_30])}, parent=github.refs[f"heads/{DATA}"],
                  branch=DATA)  # fmt: skip
    script(llm, judged_as(discerning))
    digest = prepare(github, llm, tmp_path, invoices)
    fresh_runner()
    publish(github, tmp_path, invoices, digest)
    row = MERGED_30_ROW
    (pull,) = proposals(github)
    assert row in (pull.body or "")
    board = dashboard(github).body or ""
    assert "## What earlier merges did" in board and row in board
    assert ROUND_RULE in github.files_at(pull.head_sha)["CLAUDE.md"]
