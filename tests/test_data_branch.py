"""The ledger on the data branch, human rework commits, CI of the first push, run attempts and
evidence files from the current job: through PyGithub against the local GitHub server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.errors import GitHubError
from prompt_trainer.github import GitHubClient
from prompt_trainer.models import PullRequestInfo, Sample
from prompt_trainer.store import (
    BRANCH_PATH,
    BranchFile,
    SampleStore,
    merge_lines,
    sync_with_branch,
)
from tests.scenarios import JUNIT, make_zip
from tests.servers.github import Artifact, FakeGitHub

BRANCH = "prompt-trainer-data"


@pytest.fixture
def env(github_env: dict[str, str]) -> dict[str, str]:
    return github_env  # collection needs no model


def client_for(github: FakeGitHub) -> GitHubClient:
    return GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)


def sample(sid: str, day: int, title: str = "") -> Sample:
    return Sample(
        id=sid,
        pull=PullRequestInfo(title=title or sid),
        collected_at=datetime(2026, 1, day, tzinfo=UTC),
    )


def ledger_ids(github: FakeGitHub) -> list[str]:
    text = github.files_at(BRANCH)[BRANCH_PATH]
    return [json.loads(line)["id"] for line in text.splitlines()]


def test_first_sync_creates_the_branch_as_its_own_history(
    github: FakeGitHub, tmp_path: Path
) -> None:
    main_head = github.commit({"README.md": "hi\n"}, branch="main")
    store = SampleStore(tmp_path / "s.jsonl")
    store.upsert([sample("a", 1), sample("b", 2)])
    result = sync_with_branch(store, client_for(github), BRANCH)
    assert result.pushed and result.total == 2
    assert ledger_ids(github) == ["a", "b"]
    head = github.refs[f"heads/{BRANCH}"]
    assert github.commits[head]["parents"] == []  # not on top of the code
    assert set(github.files_at(BRANCH)) == {BRANCH_PATH}
    assert github.refs["heads/main"] == main_head


def test_a_fresh_runner_gets_the_earlier_samples_back(github: FakeGitHub, tmp_path: Path) -> None:
    github.commit({"README.md": "hi\n"}, branch="main")
    first = SampleStore(tmp_path / "one" / "s.jsonl")
    first.upsert([sample("a", 1)])
    sync_with_branch(first, client_for(github), BRANCH)
    second = SampleStore(tmp_path / "two" / "s.jsonl")  # a new runner, empty cache
    second.upsert([sample("b", 2)])
    result = sync_with_branch(second, client_for(github), BRANCH)
    assert result.pulled == 1
    assert [s.id for s in second.load()] == ["b", "a"]
    assert sorted(ledger_ids(github)) == ["a", "b"]
    commits_before = len(github.commits)
    again = sync_with_branch(second, client_for(github), BRANCH)
    assert not again.pushed and len(github.commits) == commits_before  # nothing new: no commit


def test_a_concurrent_writer_is_merged_not_overwritten(github: FakeGitHub, tmp_path: Path) -> None:
    """The branch moves between our read and our write: the fast-forward is refused, we read
    again and write the union."""
    github.commit({"README.md": "hi\n"}, branch="main")
    client = client_for(github)
    mine = SampleStore(tmp_path / "mine.jsonl")
    mine.upsert([sample("mine", 2)])

    class Racing:
        """Lets another run push right after our first read."""

        raced = False

        def read_branch_file(self, branch: str, path: str) -> BranchFile:
            seen = client.read_branch_file(branch, path)
            if not self.raced:
                self.raced = True
                theirs = SampleStore(tmp_path / "theirs.jsonl")
                theirs.upsert([sample("theirs", 1)])
                sync_with_branch(theirs, client, branch)
            return seen

        def write_branch_file(
            self, branch: str, path: str, text: str, *, parent: str | None, message: str
        ) -> str | None:
            return client.write_branch_file(branch, path, text, parent=parent, message=message)

    result = sync_with_branch(mine, Racing(), BRANCH)
    assert result.pushed
    assert sorted(ledger_ids(github)) == ["mine", "theirs"]


def test_merge_keeps_the_sample_collected_last() -> None:
    old, new = sample("a", 1, "old"), sample("a", 5, "new")
    local = [old.model_dump_json(), "not json"]
    merged, taken = merge_lines(local, [new.model_dump_json(), "not json", '{"x": 1}'])
    assert taken == 1
    assert [json.loads(m)["pull"]["title"] for m in merged if m.startswith('{"id"')] == ["new"]
    assert merged[1:] == ["not json", '{"x": 1}']
    merged, taken = merge_lines([new.model_dump_json()], [old.model_dump_json()])
    assert taken == 0 and json.loads(merged[0])["pull"]["title"] == "new"


def test_the_data_branch_may_not_be_the_default_branch(github: FakeGitHub, tmp_path: Path) -> None:
    github.commit({"README.md": "hi\n"}, branch="main")
    store = SampleStore(tmp_path / "s.jsonl")
    store.upsert([sample("a", 1)])
    with pytest.raises(GitHubError, match="default branch"):
        sync_with_branch(store, client_for(github), "main")


def test_a_ledger_over_one_megabyte_is_read_through_the_blob(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.commit({"README.md": "hi\n"}, branch="main")
    github.contents_inline_limit = 100  # as GitHub does above 1 MB
    store = SampleStore(tmp_path / "one.jsonl")
    store.upsert([sample(f"s{n}", 1) for n in range(5)])
    sync_with_branch(store, client_for(github), BRANCH)
    fresh = SampleStore(tmp_path / "two.jsonl")
    assert sync_with_branch(fresh, client_for(github), BRANCH, push=False).pulled == 5
    assert any("/git/blobs/" in r.path and r.method == "GET" for r in github.requests)


def test_collect_dry_run_reads_the_branch_but_writes_nothing(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    assert main(["collect", "--pr", "7", "--dry-run"], env=env) == 0
    assert not [r for r, _, _ in github.exchanges if r.method != "GET"]
    assert f"heads/{BRANCH}" not in github.refs


def test_collect_keeps_samples_on_the_branch_when_a_later_pr_fails(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--pr", "7", "--pr", "404"], env=env) == 3
    assert ledger_ids(github) == ["octo-org/agent-repo#7"]
    assert "#404" in capsys.readouterr().err


def test_store_null_keeps_the_ledger_local(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    config = ready / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "store:\n  branch: null\n")
    assert main(["collect", "--pr", "7"], env=env) == 0
    assert not [r for r, _, _ in github.exchanges if r.method != "GET"]


def test_rework_commits_and_the_first_push_ci(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    pull = github.pulls[7]
    first = github.commit({"app.py": "v1\n"}, parent=pull.base_sha)
    github.add_run(first, [], conclusion="success")
    pull.commits = [
        (first, "claude[bot]", "claude"),
        ("b" * 40, "maria", "Maria"),  # a human fix after the agent
        ("c" * 40, "dependabot[bot]", "dependabot"),  # bots are not rework
        (pull.head_sha, None, "claude[bot]"),  # no linked account: judged by the git name
    ]
    assert main(["collect", "--pr", "7"], env=env) == 0
    data = json.loads((ready / ".prompt-trainer" / "samples.jsonl").read_text())
    info = PullRequestInfo.model_validate(data["pull"])
    assert [c.author for c in info.rework] == ["maria"]
    assert [c.by_agent for c in info.commits] == [True, False, True, True]
    assert info.first_push_ci == "success"


def test_a_rerun_run_notes_that_its_attempt_is_unknown(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    head = github.pulls[7].head_sha
    github.add_run(
        head,
        [Artifact(id=github.next_id(), name="junit-rerun", data=make_zip({"j.xml": JUNIT}))],
        attempts=2,
    )
    assert main(["collect", "--pr", "7"], env=env) == 0
    data = json.loads((ready / ".prompt-trainer" / "samples.jsonl").read_text())
    attempts = {(r["run_attempt"], bool(r["notes"])) for r in data["test_runs"]}
    assert attempts == {(1, False), (None, True)}


def test_evidence_files_of_the_current_job_join_the_sample(
    ready: Path, env: dict[str, str], tmp_path: Path
) -> None:
    local = tmp_path / "out"
    local.mkdir()
    (local / "extra-junit.xml").write_text(JUNIT)
    (local / "notes.bin").write_bytes(b"\x00")
    assert main(["collect", "--pr", "7", "--evidence", str(local)], env=env) == 0
    data = json.loads((ready / ".prompt-trainer" / "samples.jsonl").read_text())
    sources = [r["source"] for r in data["test_runs"]]
    assert any(s.endswith("out/extra-junit.xml") for s in sources) and len(sources) == 2
    assert any(s["reason"] == "unknown file type" for s in data["skipped"])


def test_evidence_needs_exactly_one_pr(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--since", "2026-01-01", "--evidence", "x"], env=env) == 2
    assert "exactly one --pr" in capsys.readouterr().err
