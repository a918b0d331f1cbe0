"""A backfill (``collect --since``, the Action's scheduled run) over PRs one of which fails: an
error from one PR skips that PR with the reason and the backfill stores the rest; an error of
GitHub itself (the token refused, the API host down) stops the run with a clear message after
what was collected is stored on the data branch."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.cli import main
from prompt_trainer.settings import parse_config
from prompt_trainer.targets import absent_hash
from tests.jobs import job_env, outputs
from tests.scenarios import CONFIG, JUNIT, agent_pulls, clone_on_server, make_zip
from tests.servers.github import Artifact, FakeGitHub, Fault, Hook, Pull
from tests.servers.github_limits import SecondaryLimit

#: A report in an encoding the XML parser refuses with a ValueError (issue 24).
SHIFT_JIS = '<?xml version="1.0" encoding="Shift_JIS"?><testsuite><testcase name="a"/></testsuite>'


@pytest.fixture
def env(github_env: dict[str, str]) -> dict[str, str]:
    return github_env  # collection needs no model


def add_agent_pull(github: FakeGitHub, number: int, report: str = JUNIT) -> Pull:
    """A merged agent PR with one CI run whose ``junit-results`` artifact holds ``report``."""
    base = github.refs["heads/main"]
    head = github.commit({"app.py": f"print({number})\n"}, parent=base, branch=f"agent/{number}")
    pull = github.add_pull(
        Pull(number, f"Agent PR {number}", f"agent/{number}", head, "main", base, state="closed")
    )
    # Updated before #7 (at NOW): the backfill, newest update first, takes #7, #8, #9.
    pull.updated_at = pull.closed_at = f"2026-11-{20 - number + 7}T09:00:00Z"
    artifact = Artifact(github.next_id(), "junit-results", make_zip({"junit.xml": report}))
    github.add_run(head, [artifact])
    return pull


def branch_ids(github: FakeGitHub) -> list[str]:
    ledger = github.files_at("prompt-trainer-data").get(".prompt-trainer/samples.jsonl", "")
    return sorted(json.loads(line)["id"] for line in ledger.splitlines())


@pytest.fixture
def three(github: FakeGitHub, ready: Path) -> FakeGitHub:
    """Agent PRs #7 (the scenario's), #8 and #9, all closed; #8 is the one a test breaks."""
    add_agent_pull(github, 8)
    add_agent_pull(github, 9)
    return github


def break_a_review(github: FakeGitHub) -> None:
    """PR #8's review as GitHub might answer it after an API change: ``state`` an object, which
    the collector refuses (a ``ValidationError`` out of reading one PR)."""
    github.pulls[8].reviews.append(
        {"id": 81, "user": github.user("maria"), "body": "ok", "state": {"value": "APPROVED"}}
    )


def test_evidence_that_makes_the_collector_raise_skips_its_pr_and_the_backfill_stores_the_rest(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    break_a_review(three)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    assert "- #8: skipped: ValidationError: 1 validation error for Feedback" in out
    assert branch_ids(three) == ["octo-org/agent-repo#7", "octo-org/agent-repo#9"]


def test_the_scheduled_action_run_skips_the_failing_pr_and_stores_the_rest(
    three: FakeGitHub, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    break_a_review(three)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"schedule": "0 6 * * 1"}))
    scheduled = {**env, "GITHUB_EVENT_NAME": "schedule", "GITHUB_EVENT_PATH": str(event)}
    assert main(["action", "--mode", "collect", "--backfill-days", "3650"], env=scheduled) == 0
    assert branch_ids(three) == ["octo-org/agent-repo#7", "octo-org/agent-repo#9"]
    assert "collect: #8: skipped: ValidationError" in capsys.readouterr().err


def test_a_report_in_shift_jis_does_not_stop_the_backfill(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 24's case: the JUnit reader raised a ``ValueError`` on a Shift_JIS report and the
    whole backfill exited 1. Now #8 is either skipped with that reason (this PR-level boundary)
    or read (a reader that takes the encoding); the backfill goes on and stores #9 either way."""
    three.runs[-2][2][0].data = make_zip({"junit.xml": SHIFT_JIS})  # PR #8's report
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    stored = branch_ids(three)
    assert stored[0] == "octo-org/agent-repo#7" and stored[-1] == "octo-org/agent-repo#9"
    assert "octo-org/agent-repo#8" in stored or "#8: skipped: ValueError: multi-byte" in out


def test_a_scheduled_run_stopped_by_github_still_stores_what_it_collected(
    three: FakeGitHub, env: dict[str, str], tmp_path: Path
) -> None:
    three.faults.append(Fault("GET", r"/pulls/8/.*", 401, times=99, message="Bad credentials"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"schedule": "0 6 * * 1"}))
    scheduled = {**env, "GITHUB_EVENT_NAME": "schedule", "GITHUB_EVENT_PATH": str(event)}
    assert main(["action", "--mode", "collect", "--backfill-days", "3650"], env=scheduled) == 3
    assert branch_ids(three) == ["octo-org/agent-repo#7"]


def test_a_pr_whose_reads_keep_failing_while_github_answers_is_skipped_with_the_reason(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """GitHub answers 5xx for one very large PR's files while everything else works: that PR
    is skipped (the free ``GET /rate_limit`` shows the API is up), not the whole backfill."""
    three.faults.append(Fault("GET", r"/pulls/8/files", 502, times=99))
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    assert "#8: skipped: GitHub kept failing while reading the files of #8" in out
    assert branch_ids(three) == ["octo-org/agent-repo#7", "octo-org/agent-repo#9"]


def test_a_refused_token_stops_the_backfill_with_the_fix_and_keeps_what_was_collected(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    three.faults.append(Fault("GET", r"/pulls/8/.*", 401, times=99, message="Bad credentials"))
    assert main(["collect", "--since", "2020-01-01"], env=env) == 3
    err = capsys.readouterr().err
    assert "401 Bad credentials" in err and "fix: the token is missing or invalid" in err
    assert branch_ids(three) == ["octo-org/agent-repo#7"]
    assert not any(r.path.endswith("/pulls/9/reviews") for r in three.requests)


def test_the_api_host_down_stops_the_backfill_and_keeps_what_was_collected(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every read of PR #8 and the free ``GET /rate_limit`` fail: GitHub is down, not the PR."""
    three.faults.append(Fault("GET", r"/pulls/8/.*|/rate_limit", 503, times=99))
    assert main(["collect", "--since", "2020-01-01"], env=env) == 3
    err = capsys.readouterr().err
    assert "GitHub kept failing" in err and "githubstatus.com" in err
    assert branch_ids(three) == ["octo-org/agent-repo#7"]


# -- a backfill within GitHub's rate budget ------------------------------------------------------


@pytest.fixture
def clone(github: FakeGitHub, checkout: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The checkout as a git clone whose one commit is ``main`` on the local GitHub server too
    (the base commit of every agent PR): its prompt files are in the local history."""
    clone_on_server(github, checkout)
    monkeypatch.chdir(checkout)
    return checkout


def counted(github: FakeGitHub, *, downloads: bool = True) -> Counter[str]:
    """Requests that counted against the rate limit, by endpoint (``{n}`` for numbers)."""
    prefix = f"/repos/{github.full_name}"
    found: Counter[str] = Counter()
    for request in github.requests:
        if request.counted and (downloads or not request.path.endswith("/zip")):
            route = re.sub(r"/\d+(?=/|$)", "/{n}", request.path.removeprefix(prefix))
            found[f"{request.method} {route}"] += 1
    return found


def state_on_branch(github: FakeGitHub) -> dict[str, Any]:
    text = github.files_at("prompt-trainer-data").get(".prompt-trainer/backfill.json")
    return json.loads(text) if text else {}


def test_a_backfill_reads_each_pr_once_and_each_shared_thing_once(
    github: FakeGitHub, clone: Path, env: dict[str, str]
) -> None:
    agent_pulls(github, 20, artifacts_every=1)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    reads = counted(github, downloads=False)
    per_pull = {k: v for k, v in reads.items() if "{n}" in k and "/git/" not in k}
    assert per_pull == {
        "GET /pulls/{n}/commits": 20,
        "GET /pulls/{n}/files": 20,
        "GET /pulls/{n}/reviews": 20,
        "GET /pulls/{n}/comments": 20,
        "GET /issues/{n}/comments": 20,
        "GET /actions/runs/{n}/artifacts": 20,
    }
    assert reads["GET /pulls"] == 1 and reads["GET /actions/runs"] == 1  # the listings, once
    assert reads["GET /collaborators/maria/permission"] == 1  # once per login and run
    assert not any("/contents/" in k and "claude" in k.lower() for k in reads)  # local git
    assert sum(reads.values()) <= 8 * 20


def test_a_shallow_clone_reads_each_base_commits_prompts_through_the_api_once(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    agent_pulls(github, 10)  # on the scenario's main, which the checkout (no git) lacks
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    prompts = {
        k: n for k, n in counted(github).items() if "/contents/" in k and "claude" in k.lower()
    }
    # CLAUDE.md, the subagent folder and its file, at the one base commit of the 11 PRs.
    assert prompts == {
        "GET /contents/CLAUDE.md": 1,
        "GET /contents/.claude/agents": 1,
        "GET /contents/.claude/agents/test-runner.md": 1,
    }


def test_a_second_backfill_asks_with_etags_and_reads_only_what_changed(
    github: FakeGitHub, clone: Path, env: dict[str, str]
) -> None:
    pulls = agent_pulls(github, 10, artifacts_every=5)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    github.requests.clear()
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    assert not counted(github)["GET /pulls/{n}/reviews"]  # every PR's reads answered 304
    assert sum(r.status == 304 for r in github.requests) >= 10
    assert sum(counted(github).values()) < 20  # the listings and the data branch only
    # A new comment on one PR: that PR alone is read again, and its sample has the comment.
    comment = github.issue_comment_json(pulls[3].number, 99, "One more thing.", login="maria")
    pulls[3].issue_comments.append({**comment, "author_association": "MEMBER"})
    github.requests.clear()
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    assert counted(github)["GET /pulls/{n}/reviews"] == 1
    (sample,) = [s for s in stored(clone) if s["id"].endswith(f"#{pulls[3].number}")]
    assert "One more thing." in json.dumps(sample["feedback"])


def stored(root: Path) -> list[dict[str, Any]]:
    path = root / ".prompt-trainer" / "samples.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_backfill_larger_than_the_budget_goes_on_over_several_runs_without_a_403(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """500 agent PRs against a token with 1,000 requests an hour: each run stops before the
    budget runs out, leaving ``limits.rate_reserve`` (200) for its writes, and the next run (an
    hour later) goes on from the cursor on the data branch."""
    github.rate.limit = 1000
    agent_pulls(github, 500, artifacts_every=50)
    done: list[int] = []
    for _ in range(8):
        github.rate.next_window()
        assert main(["collect", "--since", "2020-01-01", "-q"], env=env) == 0
        assert github.rate.remaining >= 150  # the reserve was left, less the run's own writes
        cursor = state_on_branch(github)["cursor"]
        if cursor is None:
            break
        assert len(cursor["done"]) > (done[-1] if done else 0)  # the cursor advances
        done.append(len(cursor["done"]))
        assert f"collected {done[-1]} of 500 PRs; continuing at the next run" in (
            capsys.readouterr().out
        )
    assert github.rate.refused == 0  # never a 403
    assert 2 <= len(done) <= 5
    reads = Counter(r.path for r in github.requests if r.path.endswith("/reviews"))
    assert len(reads) == 500 and set(reads.values()) == {1}  # each PR read once: none twice
    assert len({s["id"] for s in stored(clone)}) == len(stored(clone)) == 500
    ledger = github.files_at("prompt-trainer-data")[".prompt-trainer/samples.jsonl"]
    assert len(ledger.splitlines()) == 500  # nothing lost
    assert "Backfill: all 500 agent PR(s) done." in capsys.readouterr().out


def test_a_budget_spent_by_another_job_stops_the_backfill_before_github_refuses(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The budget is the repository's: another job spends most of it while the backfill runs.
    The headers say so, and the backfill stops with the reserve left for its writes."""
    pulls = agent_pulls(github, 6)

    def another_job_spends_it() -> None:
        github.rate.used = github.rate.limit - 150

    github.hooks.append(Hook("GET", rf"/pulls/{pulls[3].number}/files", another_job_spends_it))
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    assert "Backfill: collected 3 of 6 PRs; continuing at the next run (1" in out
    assert "200 kept for this run's writes (limits.rate_reserve))." in out
    assert github.rate.refused == 0
    cursor = state_on_branch(github)["cursor"]
    assert sorted(cursor["done"]) == sorted(p.number for p in pulls[3:])  # newest first
    github.rate.next_window()  # the hour is over
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    assert "Backfill: all 6 agent PR(s) done." in capsys.readouterr().out
    assert len(stored(clone)) == 6 and state_on_branch(github)["cursor"] is None
    reads = Counter(r.path for r in github.requests if r.path.endswith("/reviews"))
    assert len(reads) == 6 and set(reads.values()) == {1}  # nothing read twice


def test_a_rate_limit_github_answers_anyway_stops_the_backfill_with_its_cursor(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A secondary limit on one PR's reads that asks for a longer wait than MAX_RATE_WAIT_S:
    that PR is not done, the backfill stops there at once (exit 0) and the next run collects
    it."""
    pulls = agent_pulls(github, 4)
    secondary = "You have exceeded a secondary rate limit. Please wait a few minutes."
    path = rf"/pulls/{pulls[1].number}/files"
    github.faults.append(
        Fault("GET", path, 403, times=1, message=secondary, headers={"Retry-After": "900"})
    )
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    assert "Backfill: collected 2 of 4 PRs; continuing at the next run (GitHub API error" in out
    assert (
        sum(1 for r in github.requests if r.path.endswith(path)) == 1
    )  # not retried: past the cap
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    assert "Backfill: all 4 agent PR(s) done." in capsys.readouterr().out
    assert sorted(s["pull"]["number"] for s in stored(clone)) == [p.number for p in pulls]


def test_a_budget_spent_to_the_last_request_fails_the_run_and_keeps_the_samples_locally(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Another job spends the whole budget: not even the data branch can be written. The run
    says so (exit 3); the samples and the cursor stay in the local ledger for the next sync."""
    pulls = agent_pulls(github, 4)

    def another_job_spends_it_all() -> None:
        github.rate.used = github.rate.limit

    github.hooks.append(Hook("GET", rf"/pulls/{pulls[1].number}/files", another_job_spends_it_all))
    assert main(["collect", "--since", "2020-01-01"], env=env) == 3
    assert "403 API rate limit exceeded" in capsys.readouterr().err
    assert [s["pull"]["number"] for s in stored(clone)] == [pulls[3].number, pulls[2].number]
    state = json.loads((clone / ".prompt-trainer" / "backfill.json").read_text())
    assert state["cursor"]["done"] == [pulls[2].number, pulls[3].number]


def test_a_secondary_rate_limit_is_waited_out_as_github_asks(
    github: FakeGitHub, clone: Path, env: dict[str, str]
) -> None:
    # The secondary limit trips once, on a write of the data branch (a POST, which GitHub did
    # not carry out): it is sent again after ``Retry-After``, and nothing is written twice.
    agent_pulls(github, 3)
    github.secondary = SecondaryLimit(points=40, retry_after=1)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    assert github.secondary.refused == 1  # hit once, waited out (Retry-After), not hit again
    (refused,) = [r for r in github.requests if r.status == 403]
    assert refused.method == "POST"
    assert (
        len(github.files_at("prompt-trainer-data")[".prompt-trainer/samples.jsonl"].splitlines())
        == 3
    )
    assert len(stored(clone)) == 3


def test_a_window_of_more_than_a_thousand_runs_is_listed_in_parts(
    github: FakeGitHub, clone: Path, env: dict[str, str]
) -> None:
    """GitHub lists at most 1,000 runs for a ``created`` filter: the window is split until each
    part fits, so the oldest PR's run, past the first thousand, is found."""
    (oldest, *_) = agent_pulls(github, 2, artifacts_every=1)
    for n in range(1100):  # other branches' CI while the PRs were open, newer than their runs
        when = f"2026-10-01T{1 + n % 22:02d}:{n % 60:02d}:{n // 60 % 60:02d}Z"
        github.add_run("0" * 40, [], conclusion="success", created_at=when)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    (sample,) = [s for s in stored(clone) if s["id"].endswith(f"#{oldest.number}")]
    assert sample["test_runs"], "the oldest PR's JUnit report was found"
    assert counted(github)["GET /actions/runs"] >= 3  # the window and its two halves


def test_a_prompt_link_dangling_at_the_base_commit_does_not_lose_the_pr(
    github: FakeGitHub, checkout: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local history reads links; one that points at nothing there is read through the
    API instead, which sees no file, and the PR is collected all the same."""
    (checkout / "CLAUDE.md").unlink()
    (checkout / "CLAUDE.md").symlink_to("gone.md")
    clone_on_server(github, checkout)
    monkeypatch.chdir(checkout)
    agent_pulls(github, 1)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    (sample,) = stored(checkout)
    assert sample["prompt_versions"]["coder"] == absent_hash(
        parse_config(CONFIG, source="c").targets[0]
    )


# -- the split jobs: prepare reads, publish writes the cursor and the ETags ------------------------


def fresh_runner(root: Path) -> None:
    """Each job of each run starts on a fresh runner: nothing under ``.prompt-trainer/``."""
    shutil.rmtree(root / ".prompt-trainer", ignore_errors=True)


def split_run(github: FakeGitHub, root: Path, tmp_path: Path, event: dict[str, str]) -> str:
    """One scheduled run of the split workflow: ``prepare`` (read-only token, no LLM key: it
    collects and records) then ``publish`` (the write token), each on a runner of its own; the
    prepare job's log."""
    bundle = str(tmp_path / "bundle")
    shutil.rmtree(bundle, ignore_errors=True)
    fresh_runner(root)
    read = job_env(github, tmp_path, "prepare", token="test-read-token", key=False)
    args = ["action", "--mode", "prepare", "--bundle", bundle, "--backfill-days", "3650"]
    assert main(args, env={**read, **event}) == 0
    digest = outputs(tmp_path, "prepare")["bundle-sha256"]
    fresh_runner(root)
    write = job_env(github, tmp_path, "publish", token=github.token, key=False)
    assert main(["action", "--mode", "publish", "--bundle", bundle, "--bundle-sha256", digest],
                env={**write, **event}) == 0  # fmt: skip
    return (tmp_path / "prepare.md").read_text()


def test_a_split_backfill_stopped_at_the_budget_goes_on_at_the_next_run_and_reads_nothing_twice(
    github: FakeGitHub, clone: Path, tmp_path: Path
) -> None:
    """The prepare job's token can only read: its backfill's cursor and the ETags of each PR's
    reads travel in the bundle, and the publish job writes them to the data branch with the
    samples. So the next run (on fresh runners) goes on where the last stopped, and a later
    backfill asks with the ETags: unchanged PRs cost nothing."""
    github.rate.limit = 350
    pulls = agent_pulls(github, 60, artifacts_every=20)
    scheduled = tmp_path / "schedule.json"
    scheduled.write_text(json.dumps({"schedule": "0 6 * * 1"}))
    event = {"GITHUB_EVENT_NAME": "schedule", "GITHUB_EVENT_PATH": str(scheduled)}
    done: list[int] = []
    for _ in range(8):
        github.rate.next_window()
        summary = split_run(github, clone, tmp_path, event)
        state = state_on_branch(github)
        if state["cursor"] is None:
            break
        assert len(state["cursor"]["done"]) > (done[-1] if done else 0)  # the cursor advances
        done.append(len(state["cursor"]["done"]))
        assert f"collected {done[-1]} of 60 PRs; continuing at the next run" in summary
    assert 2 <= len(done) <= 5 and state["cursor"] is None
    assert github.rate.refused == 0 and not github.refused_writes
    reads = Counter(r.path for r in github.requests if r.path.endswith("/reviews"))
    assert len(reads) == 60 and set(reads.values()) == {1}  # each PR read once: none twice
    assert branch_ids(github) == sorted(f"{github.full_name}#{p.number}" for p in pulls)
    assert len(state["pulls"]) == 60  # every PR's reads, with their ETags
    # The next week's backfill asks with the stored ETags: 304s, no PR read again.
    github.requests.clear()
    github.rate.next_window()
    split_run(github, clone, tmp_path, event)
    assert not counted(github)["GET /pulls/{n}/reviews"]
    assert sum(r.status == 304 for r in github.requests) >= 60


def test_a_dry_run_backfill_writes_nothing_locally_or_on_github(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    agent_pulls(github, 3, artifacts_every=1)

    def files() -> dict[str, bytes]:
        return {
            p.relative_to(clone).as_posix(): p.read_bytes()
            for p in clone.rglob("*")
            if p.is_file() and ".git/" not in p.as_posix() and "/runs/" not in p.as_posix()
        }  # the run's own log (.prompt-trainer/runs/, listed by `runs`) is not evidence

    before, refs = files(), dict(github.refs)
    assert main(["collect", "--since", "2020-01-01", "--dry-run"], env=env) == 0
    out = capsys.readouterr().out
    assert files() == before
    assert [r for r in github.requests if r.method != "GET"] == [] and github.refs == refs
    assert out.count("octo-org/agent-repo#") == 3  # what it would collect, in the table
    assert "Dry run: nothing was written" in out


def test_a_budget_below_the_reserve_at_the_start_lists_nothing_and_writes_nothing(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Another job spent most of the hour: 150 requests left against a reserve of 200. The
    backfill no longer lists the closed PRs and the window's runs first (49 requests spent,
    left below the reserve): it stops before listing and says why."""
    github.rate.limit = 1000
    agent_pulls(github, 30, artifacts_every=1)
    github.rate.next_window()
    github.rate.used = 1000 - 150
    github.requests.clear()
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    captured = capsys.readouterr()
    listed = [r.path for r in github.requests if r.path.endswith(("/pulls", "/actions/runs"))]
    assert listed == []
    assert "stopping at the rate budget before listing (" in captured.err
    assert "200 kept for this run's writes" in captured.err
    assert github.rate.remaining >= 130  # opening the repository and the data branch only
    assert not (clone / ".prompt-trainer" / "samples.jsonl").exists()


# -- the listings within the budget: their cost checked before they are made -------------------


def other_runs(github: FakeGitHub, count: int) -> None:
    """``count`` runs of no agent PR (pushes to main, other PRs) over the PRs' twelve days."""
    for i in range(count):
        github.add_run(f"{i:040x}", [], created_at=f"2026-10-{1 + i % 12:02d}T{i % 24:02d}:00:00Z")


def busy_hour(github: FakeGitHub, *, left: int, prs: int = 300, runs: int = 2000) -> None:
    """``prs`` agent PRs and ``runs`` other runs; a token of 1,000 requests an hour of which
    another job left ``left``; the server's request log cleared."""
    github.rate.limit = 1000
    agent_pulls(github, prs, artifacts_every=1)
    other_runs(github, runs)
    github.rate.next_window()
    github.rate.used = 1000 - left
    github.requests.clear()


def runs_pages(github: FakeGitHub) -> list[dict[str, list[str]]]:
    """The queries of the ``GET /actions/runs`` pages the server served, in order."""
    return [r.query for r in github.requests if r.path.endswith("/actions/runs") and r.counted]


def test_the_reviewers_scenario_spends_nothing_below_the_reserve_and_writes_only_the_cursor(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """300 agent PRs and 2,000 other runs in the window; another job left 150 requests of the
    hour against a reserve of 200. Neither listing is made; the data branch gets the cursor and
    its reason, no sample."""
    busy_hour(github, left=150)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    err = capsys.readouterr().err
    reads = [r for r in github.requests if r.method == "GET" and r.counted]
    assert not [r.path for r in reads if r.path.endswith(("/pulls", "/actions/runs"))]
    # 150 less the 6 reads that open the repository and the data branch.
    assert "listing the closed PRs needs at least 1 more request; 144 of 1000 requests" in err
    assert github.rate.refused == 0
    branch = github.files_at("prompt-trainer-data")
    assert not branch.get(".prompt-trainer/samples.jsonl", "").strip()  # no sample
    cursor = state_on_branch(github)["cursor"]
    assert cursor["done"] == [] and "limits.rate_reserve" in cursor["reason"]
    assert not (clone / ".prompt-trainer" / "samples.jsonl").exists()


def test_a_budget_that_cannot_pay_the_runs_listing_stops_after_its_first_page_and_says_why(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """230 requests left against a reserve of 200: the closed PRs (1 page) fit, the window's
    runs (100 agent PRs' and about half of 4,400 others; ``total_count`` on the first page) do
    not. The backfill stops before the second page with the cursor and how much the listing
    needs; the next hour's run does it all, nothing lost. (100 PRs, not 300: the second run
    collects them all, and the suite's time is shared.)"""
    busy_hour(github, left=230, prs=100, runs=4400)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    assert len(runs_pages(github)) == 1
    assert re.search(r"listing the workflow runs needs about 2\d more requests; 22\d of", out)
    assert "the budget resets at " in out and "collected 0 of 100 PRs" in out
    assert github.rate.remaining >= 200 - 10  # what was spent below the reserve: the writes
    assert state_on_branch(github)["cursor"]["total"] == 100
    github.rate.limit = 5000
    github.rate.next_window()
    assert main(["collect", "--since", "2020-01-01", "-q"], env=env) == 0
    assert len({s["id"] for s in stored(clone)}) == 100 and github.rate.refused == 0


def test_a_resumed_backfill_lists_only_the_runs_of_the_prs_it_has_left(
    github: FakeGitHub, clone: Path, env: dict[str, str]
) -> None:
    """A backfill cut half-way by another job: the next run lists the runs from a day before the
    earliest of the PRs left opened to a day after the latest of them closed, not the whole
    original window again."""
    pulls = agent_pulls(github, 100, artifacts_every=1)
    other_runs(github, 2000)
    first_pass = 0

    def another_job_spends_it() -> None:
        nonlocal first_pass
        first_pass = len(runs_pages(github))
        github.rate.used = github.rate.limit - 205

    github.hooks.append(Hook("GET", rf"/pulls/{pulls[50].number}/files", another_job_spends_it))
    assert main(["collect", "--since", "2020-01-01", "-q"], env=env) == 0
    left = [p for p in pulls if p.number not in state_on_branch(github)["cursor"]["done"]]
    assert len(left) == 50  # the oldest, closed an hour apart from 2026-10-01 00:00
    github.rate.next_window()
    github.requests.clear()
    assert main(["collect", "--since", "2020-01-01", "-q"], env=env) == 0
    assert state_on_branch(github)["cursor"] is None
    pages = runs_pages(github)
    # Opened a day before they closed, and a day's lead for an issue; a day after the last.
    top = pages[0]["created"][0]
    assert top == "2026-09-29T00:00:00Z..2026-10-04T01:00:00Z"
    assert first_pass >= 9 and len(pages) <= 6  # ~950 runs (10 pages) then; ~550 now
    reads = Counter(r.path for r in github.requests if r.path.endswith("/reviews"))
    assert len(reads) == 50 and set(reads.values()) == {1}


def test_a_resumed_backfill_with_no_pr_left_to_do_lists_no_workflow_runs(
    github: FakeGitHub, clone: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The one PR the cursor left was reopened meanwhile (no longer closed since the date):
    nothing is left to do, so the window's runs are not listed at all."""
    oldest, middle, newest = agent_pulls(github, 3, artifacts_every=1)

    def another_job_spends_it() -> None:
        github.rate.used = github.rate.limit - 205

    github.hooks.append(Hook("GET", rf"/pulls/{middle.number}/files", another_job_spends_it))
    assert main(["collect", "--since", "2020-01-01", "-q"], env=env) == 0
    assert sorted(state_on_branch(github)["cursor"]["done"]) == [middle.number, newest.number]
    oldest.state = "open"
    github.rate.next_window()
    github.requests.clear()
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    assert runs_pages(github) == []
    assert "Backfill: all 2 agent PR(s) done." in capsys.readouterr().out
    assert state_on_branch(github)["cursor"] is None
