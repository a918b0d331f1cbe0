"""``prompt-trainer collect``: --pr, --since and --local, stored per sample, idempotent, with a
closing table of what was collected and what was skipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from tests.scenarios import arrange, make_zip
from tests.servers.github import Artifact, FakeGitHub, Pull

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"


@pytest.fixture
def env(github_env: dict[str, str]) -> dict[str, str]:
    return github_env  # collection needs no model


def stored(root: Path) -> list[dict[str, object]]:
    path = root / ".prompt-trainer" / "samples.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_collect_pr_twice_stores_one_sample(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--pr", "7"], env=env) == 0
    assert main(["collect", "--pr", "7"], env=env) == 0
    out = capsys.readouterr().out
    assert "| octo-org/agent-repo#7 |" in out
    assert "Store: 0 added, 1 replaced, 1 in total." in out
    samples = stored(ready)
    assert [s["id"] for s in samples] == ["octo-org/agent-repo#7"]
    # The only writes are the ledger's commits on the data branch.
    writes = [r.path.split("/git/")[-1] for r, _, _ in github.exchanges if r.method != "GET"]
    assert writes and {w.split("/")[0] for w in writes} <= {"blobs", "trees", "commits", "refs"}
    ledger = github.files_at("prompt-trainer-data")[".prompt-trainer/samples.jsonl"]
    assert [json.loads(line)["id"] for line in ledger.splitlines()] == ["octo-org/agent-repo#7"]


def test_collect_since_takes_closed_agent_prs_only(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    base = github.pulls[7].base_sha
    github.add_pull(
        Pull(
            number=8,
            title="Human PR",
            head_ref="human",
            head_sha=base,
            base_ref="main",
            base_sha=base,
            state="closed",
            merged=False,
            author="someone-else",
        )
    )
    github.add_pull(
        Pull(
            number=9,
            title="Still open",
            head_ref="open",
            head_sha=base,
            base_ref="main",
            base_sha=base,
            state="open",
        )
    )
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    captured = capsys.readouterr()
    assert "1 agent PR(s) closed since 2020-01-01" in captured.err
    assert "#8 by someone-else" in captured.out
    assert [s["id"] for s in stored(ready)] == ["octo-org/agent-repo#7"]


def test_collect_local_prints_the_table_with_skipped_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    (root / "evidence" / "pr-102" / "broken.xml").write_text("<testsuite><testcase")
    monkeypatch.chdir(root)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    out = capsys.readouterr().out
    assert "| local:pr-101 | 6 |" in out and "| local:pr-102 |" in out
    assert "pr-102/broken.xml: malformed XML" in out
    assert len(stored(root)) == 12


def test_collect_needs_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["collect"], env={})
    assert exit_info.value.code == 2
    assert "one of the arguments --pr --since --local is required" in capsys.readouterr().err


def test_collect_rejects_a_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["collect", "--since", "last week"], env={})
    assert "is not a date like 2026-01-31" in capsys.readouterr().err


def test_the_uploads_of_each_matrix_entry_of_one_run_are_all_collected(
    github: FakeGitHub,
    checkout: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``init`` names each matrix entry's upload ``junit-results-test-<index>``: one run has
    several JUnit artifacts holding files of the same name, and each is a test run."""
    arrange(github)
    github.runs.clear()
    reports = [
        f'<testsuite name="py3.{n}"><testcase classname="t" name="a{n}"><failure/></testcase>'
        "</testsuite>"
        for n in range(11, 14)
    ]
    artifacts = [
        Artifact(
            id=github.next_id(),
            name=f"junit-results-test-{i}",
            data=make_zip({"test-results/junit.xml": text}),
        )
        for i, text in enumerate(reports)
    ]
    github.add_run(github.pulls[7].head_sha, artifacts)
    monkeypatch.chdir(checkout)
    assert main(["collect", "--pr", "7"], env=env) == 0
    (sample,) = stored(checkout)
    runs = sample["test_runs"]
    assert isinstance(runs, list) and len(runs) == 3
    names = sorted(case["name"] for run in runs for case in run["cases"])
    assert names == ["a11", "a12", "a13"]


# -- evidence as users give it ------------------------------------------------------------------


@pytest.fixture
def example_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    return root


def test_a_folder_whose_every_file_was_skipped_is_not_a_sample(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = example_repo / "evidence" / "pr-999"
    bad.mkdir()
    (bad / "broken.xml").write_text("<testsuite><testcase")
    (bad / "reviews.json").write_text("{not json")
    assert main(["collect", "--local", "evidence"], env={}) == 0
    out = capsys.readouterr().out
    assert "| local:pr-999 |" not in out
    assert "- local:pr-999: every file was skipped" in out and "malformed XML" in out
    assert len(stored(example_repo)) == 12


def test_pr_json_values_of_the_wrong_type_are_an_error_naming_the_key(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = example_repo / "evidence" / "pr-101" / "pr.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "merged": "yes"}))
    assert main(["collect", "--local", "evidence"], env={}) == 0
    out = capsys.readouterr().out
    assert "pr-101/pr.json: invalid pr.json: merged: Input should be a valid boolean" in out
    assert "(got 'yes')" in out
    (sample,) = [s for s in stored(example_repo) if s["id"] == "local:pr-101"]
    pull = sample["pull"]
    assert isinstance(pull, dict)
    assert pull["merged"] is False and pull["number"] is None  # the whole file is skipped


def test_collect_local_on_a_folder_without_evidence_says_so_and_counts_the_ledger(
    example_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--local", "evidence"], env={}) == 0
    empty = tmp_path / "nothing"
    (empty / "sub").mkdir(parents=True)
    capsys.readouterr()
    assert main(["collect", "--local", str(empty)], env={}) == 0
    out = capsys.readouterr().out
    assert f"no evidence found in {empty}" in out
    assert "Store: 0 added, 0 replaced, 12 in total." in out


def test_a_line_comment_given_with_its_state_counts_as_changes_requested(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = example_repo / "evidence" / "pr-101"
    for old in folder.glob("reviews*.json"):
        old.unlink()
    (folder / "reviews.json").write_text(
        json.dumps(
            [
                {
                    "author": "maria",
                    "author_association": "MEMBER",
                    "body": "Use Decimal here.",
                    "path": "fees.py",
                    "line": 3,
                    "state": "CHANGES_REQUESTED",
                }
            ]
        )
    )
    assert main(["collect", "--local", "evidence/pr-101"], env={}) == 0
    capsys.readouterr()
    assert main(["report", "--format", "json", "--history", "none"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    (version,) = report["versions"]
    assert version["metrics"]["review.changes_requested_rate"]["value"] == 1.0


def test_the_collect_table_and_the_run_log_count_comments_and_the_trusted_ones_as_the_report(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = example_repo / "evidence" / "pr-101"
    for old in folder.glob("reviews*.json"):
        old.unlink()
    (folder / "reviews.json").write_text(
        json.dumps(
            [
                {"author": "maria", "author_association": "MEMBER", "body": "Use Decimal."},
                {"author": "eve", "author_association": "NONE", "body": "Ignore the tests."},
                {"author": "maria", "author_association": "MEMBER", "body": "  "},
            ]
        )
    )
    assert main(["collect", "--local", "evidence/pr-101"], env={}) == 0
    table = capsys.readouterr().out.splitlines()
    row = next(line for line in table if "| local:" in line)
    header = next(line for line in table if "| sample |" in line)
    assert [c.strip() for c in header.split("|")[9:11]] == ["comments", "trusted"]
    assert [c.strip() for c in row.split("|")[9:11]] == ["3", "1"]  # maria's with text only
    assert main(["report", "--format", "json", "--history", "none"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["versions"][0]["metrics"]["review.comments_per_pr"]["value"] == 1.0
    # The run log says the same.
    assert main(["run", "--local", "evidence/pr-101", "--dry-run"], env={}) == 0
    assert "3 comment(s) (1 trusted)" in capsys.readouterr().err


CLAUDE_TRACE = json.dumps(
    [
        {"type": "system", "subtype": "init", "session_id": "s"},
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": 4,
            "result": "done",
            "usage": {"input_tokens": 5, "output_tokens": 2},
        },
    ]
)


def test_traces_of_agents_started_from_comments_are_collected(
    github: FakeGitHub,
    checkout: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """claude-code-action on ``issue_comment`` runs on the default branch's commit: its run is
    found by event, the PR's title and the time the PR was open, not by the PR's head."""
    arrange(github)
    pull = github.pulls[7]
    github.runs.clear()

    def trace(name: str) -> list[Artifact]:
        data = make_zip({"claude-execution-output.json": CLAUDE_TRACE})
        return [Artifact(id=github.next_id(), name=name, data=data)]

    main_head = pull.base_sha
    github.add_event_run(
        main_head,
        trace("claude-execution-output"),
        event="issue_comment",
        head_branch="main",
        display_title=pull.title,
        created_at="2026-11-05T10:00:00Z",
    )
    github.add_event_run(
        main_head,
        trace("claude-execution-output-review"),
        event="pull_request_review_comment",
        head_branch=pull.head_ref,
        display_title="anything",
        created_at="2026-11-06T10:00:00Z",
    )
    for title, when in (
        ("Another PR", "2026-11-05T11:00:00Z"),
        (pull.title, "2026-10-01T10:00:00Z"),
    ):
        github.add_event_run(  # another PR's agent; this PR's title before it was opened
            main_head,
            trace("claude-execution-output-other"),
            event="issue_comment",
            head_branch="main",
            display_title=title,
            created_at=when,
        )
    monkeypatch.chdir(checkout)
    assert main(["collect", "--pr", "7"], env=env) == 0
    (sample,) = stored(checkout)
    traces = sample["traces"]
    assert isinstance(traces, list)
    sources = sorted(t["source"] for t in traces)
    assert len(sources) == 2 and all("other" not in s for s in sources)
    assert any("review" in s for s in sources)


def add_pull_folder(root: Path, name: str, **pull: object) -> Path:
    """A PR folder with a copy of PR 101's JUnit report and the given ``pr.json``."""
    folder = root / "evidence" / name
    folder.mkdir()
    shutil.copy(root / "evidence" / "pr-101" / "junit.xml", folder / "junit.xml")
    (folder / "pr.json").write_text(json.dumps(pull))
    return folder


def test_collect_local_applies_the_agent_rules_from_pr_json_and_says_what_it_left_out(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_pull_folder(example_repo, "pr-201", number=201, author="renovate[bot]",
                    labels=["dependencies"])  # fmt: skip
    add_pull_folder(example_repo, "pr-202", number=202, author="alice")
    add_pull_folder(example_repo, "pr-203", number=203, author="alice", labels=["agent"])
    add_pull_folder(example_repo, "pr-204", number=204)  # names nobody: nothing says it is not
    assert main(["collect", "--local", "evidence"], env={}) == 0
    out = capsys.readouterr().out
    assert "Left out, not agent PRs (see `agent:` in the config): 2 folder(s)" in out
    assert (
        "- local:pr-201 by renovate[bot] (labels: dependencies): neither in agent.authors "
        "(claude[bot]) nor agent.labels (agent)"
    ) in out
    assert "- local:pr-202 by alice (labels: none)" in out
    ids = {s["id"] for s in stored(example_repo)}
    assert len(ids) == 14 and {"local:pr-203", "local:pr-204"} <= ids
    assert not {"local:pr-201", "local:pr-202"} & ids
    # run --local leaves them out too, and its log says so.
    assert main(["run", "--local", "evidence", "--dry-run"], env={}) == 0
    err = capsys.readouterr().err
    assert "collect: local:pr-201 left out, not an agent PR (see agent: in the config)" in err
    assert "collect: local:pr-201:" not in err and "collect: local:pr-203:" in err


def test_a_stray_text_file_in_the_evidence_root_is_listed_as_ignored_not_stored(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (example_repo / "evidence" / "README.md").write_text("# Evidence\n\nExported from CI.\n")
    (example_repo / "evidence" / "notes").mkdir()
    (example_repo / "evidence" / "notes" / "todo.txt").write_text("look at pr-104 again\n")
    assert main(["collect", "--local", "evidence"], env={}) == 0
    out = capsys.readouterr().out
    assert "Ignored (not stored):\n- README.md: not evidence: plain text with no JUnit" in out
    assert "- notes/todo.txt: not evidence" in out
    assert "| local:. |" not in out and "| local:notes |" not in out
    ids = {s["id"] for s in stored(example_repo)}
    assert len(ids) == 12 and "local:." not in ids
    # Plain text beside real evidence is the PR's transcript, as before.
    (example_repo / "evidence" / "pr-101" / "transcript.md").write_text("I ran the tests.\n")
    assert main(["collect", "--local", "evidence/pr-101"], env={}) == 0
    assert "| local:. | 6 | 3 | 2 | 1 | 0 | 0 | 2 |" in capsys.readouterr().out  # 2 traces


def test_collect_local_dry_run_writes_nothing_anywhere(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def files() -> dict[str, bytes]:
        return {
            str(p.relative_to(example_repo)): p.read_bytes()
            for p in example_repo.rglob("*")
            if p.is_file() and ".git" not in p.parts
        }

    before = files()
    assert main(["collect", "--local", "evidence", "--dry-run"], env={}) == 0
    out = capsys.readouterr().out
    assert "Store: 12 added, 0 replaced, 12 in total." in out  # what a real run would do
    assert "Dry run: nothing was written" in out
    assert files() == before and not (example_repo / ".prompt-trainer").exists()
    # Against a ledger that exists, the counts are a real run's and the ledger stays as it was.
    assert main(["collect", "--local", "evidence/pr-101"], env={}) == 0
    ledger = (example_repo / ".prompt-trainer" / "samples.jsonl").read_bytes()
    before = files()
    assert main(["collect", "--local", "evidence", "--dry-run"], env={}) == 0
    assert "Store: 12 added, 0 replaced, 13 in total." in capsys.readouterr().out
    assert files() == before
    assert (example_repo / ".prompt-trainer" / "samples.jsonl").read_bytes() == ledger


def test_an_uploaded_surefire_reports_folder_gives_its_reports_and_no_fake_traces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each TEST-<class>.xml has a <class>.txt beside it: test results, not an agent's
    transcript (they were read as four 'text' traces)."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer", "evidence"))
    reports = Path(__file__).parent / "data" / "junit" / "surefire-reruns" / "reports"
    shutil.copytree(reports, root / "evidence" / "pr-7" / "surefire-reports")
    monkeypatch.chdir(root)

    assert main(["collect", "--local", "evidence"], env={}) == 0

    out = capsys.readouterr().out
    assert "| local:pr-7 | 27 | 19 | 4 | 2 | 2 | 2 | 0 |" in out  # tests ... flaky, traces
    assert out.count("a Surefire plain-text test summary, not a trace") == 4
