"""The one Git Data API commit sequence, as each write uses it: the data branch fast-forwards
(a new branch starts at a root commit), a revision moves only from its parent, a proposal
deletes paths too, and no write reaches the default branch."""

from __future__ import annotations

import pytest

from prompt_trainer.errors import GitHubError
from prompt_trainer.github import GitHubClient
from tests.servers.github import FakeGitHub


def client_of(github: FakeGitHub) -> GitHubClient:
    return GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)


def test_a_new_data_branch_starts_at_a_root_commit_and_then_fast_forwards(
    github: FakeGitHub,
) -> None:
    github.commit({"README.md": "hi\n"}, branch="main")
    client = client_of(github)
    first = client.write_branch_file("data", "a.jsonl", "1\n", parent=None, message="one")
    assert first is not None and github.commits[first]["parents"] == []
    second = client.write_branch_file("data", "a.jsonl", "2\n", parent=first, message="two")
    assert second is not None and github.commits[second]["parents"] == [first]
    assert github.files_at("data") == {"a.jsonl": "2\n"}
    # A writer that read the branch before ``second`` loses: the ref does not move.
    assert client.write_branch_file("data", "a.jsonl", "3\n", parent=first, message="x") is None
    assert client.write_branch_file("data", "a.jsonl", "4\n", parent=None, message="y") is None
    assert github.refs["heads/data"] == second


def test_a_proposal_commit_sets_and_deletes_paths_on_the_default_branch_head(
    github: FakeGitHub,
) -> None:
    main = github.commit({"CLAUDE.md": "v1\n", "old.md": "x\n"}, branch="main")
    client = client_of(github)
    sha = client.commit_files(
        branch="prompt-trainer/coder",
        files={"CLAUDE.md": "v2 — ünïcode\n", "old.md": None},
        message="update",
    )
    assert github.commits[sha]["parents"] == [main]
    assert github.files_at("prompt-trainer/coder") == {"CLAUDE.md": "v2 — ünïcode\n"}
    on_top = client.commit_on_top(
        branch="prompt-trainer/coder", files={"CLAUDE.md": "v3\n"}, message="revise", parent=sha
    )
    assert on_top is not None and github.refs["heads/prompt-trainer/coder"] == on_top
    stale = client.commit_on_top(
        branch="prompt-trainer/coder", files={"CLAUDE.md": "v4\n"}, message="late", parent=sha
    )
    assert stale is None and github.refs["heads/prompt-trainer/coder"] == on_top


@pytest.mark.parametrize("write", ["data", "proposal", "revision"])
def test_no_write_reaches_the_default_branch(github: FakeGitHub, write: str) -> None:
    head = github.commit({"CLAUDE.md": "v1\n"}, branch="main")
    client = client_of(github)
    with pytest.raises(GitHubError, match="refusing to write to the default branch"):
        if write == "data":
            client.write_branch_file("main", "a.jsonl", "1\n", parent=head, message="m")
        elif write == "proposal":
            client.commit_files(branch="main", files={"CLAUDE.md": "v2\n"}, message="m")
        else:
            client.commit_on_top(branch="main", files={"a": "b"}, message="m", parent=head)
    assert github.refs["heads/main"] == head and len(github.commits) == 1
