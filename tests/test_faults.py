"""Faults injected at the local GitHub and LM servers: bounded retries, no duplicates, clear
errors, and nothing already collected lost. Each case is listed in docs/reliability.md."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.collect.backfill import rate_limited
from prompt_trainer.errors import GitHubError
from prompt_trainer.github import GitHubClient
from prompt_trainer.github.connection import Connection, resets_at, translate_errors
from tests.scenarios import arrange, make_zip
from tests.servers.github import Artifact, FakeGitHub, Fault
from tests.servers.llm import FakeLLM, chat_adapter_reply

BRANCH = "prompt-trainer/coder"


def bot_pulls(github: FakeGitHub) -> list[int]:
    return [n for n, p in github.pulls.items() if p.head_ref == BRANCH]


def hits(github: FakeGitHub, method: str, suffix: str) -> int:
    return sum(1 for r in github.requests if r.method == method and r.path.endswith(suffix))


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_failing_read_is_retried(
    github: FakeGitHub, ready: Path, env: dict[str, str], status: int
) -> None:
    github.faults.append(Fault("GET", r"/pulls/7/reviews", status, times=2))
    assert main(["run", "--pr", "7"], env=env) == 0
    assert hits(github, "GET", "/pulls/7/reviews") == 3  # two failures, then the answer
    assert len(bot_pulls(github)) == 1


def test_a_secondary_rate_limit_with_retry_after_waits_and_goes_on(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    github.faults.append(
        Fault(
            "GET",
            r"/pulls/7/comments",
            403,
            headers={"Retry-After": "1"},
            message="You have exceeded a secondary rate limit.",
            hold_s=1,  # a retry sooner than Retry-After is refused again
        )
    )
    assert main(["run", "--pr", "7"], env=env) == 0  # env sets no backoff of our own
    assert hits(github, "GET", "/pulls/7/comments") == 2  # one retry, after the wait


@pytest.mark.parametrize("status", [403, 429])
def test_an_exhausted_primary_rate_limit_is_not_retried_and_says_when_the_budget_resets(
    github: FakeGitHub, ready: Path, env: dict[str, str], status: int,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """GitHub: no request succeeds before X-RateLimit-Reset, so none is sent (PyGithub's
    retry slept until the reset on a 403 and retried a 429 at once)."""
    reset = int(time.time()) + 1800
    github.faults.append(
        Fault(
            "GET",
            r"/pulls/7$",
            status,
            times=10,
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            message="API rate limit exceeded for installation ID 1.",
        )
    )
    assert main(["collect", "--pr", "7"], env=env) == 3
    err = capsys.readouterr().err
    assert hits(github, "GET", "/pulls/7") == 1
    assert "rate limit is spent while reading pull request #7" in err
    assert f"the budget resets at {time.strftime('%H:%M', time.gmtime(reset))} UTC" in err


def connection(github: FakeGitHub, waits: list[float]) -> Connection:
    return Connection(
        api_url=github.api_url, token=github.token, repository=github.full_name,
        backoff_s=0, sleep=waits.append,
    )  # fmt: skip


def read_pulls(conn: Connection) -> None:
    with translate_errors("reading pulls"):
        conn.api.requester.requestJsonAndCheck("GET", f"{conn.repo.url}/pulls")


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_without_retry_after_waits_a_minute_then_longer_then_stops(
    github: FakeGitHub, status: int
) -> None:
    """GitHub: without Retry-After, wait at least one minute, then back off exponentially;
    past MAX_RATE_WAIT_S the error goes up (a backfill stops with its cursor)."""
    waits: list[float] = []
    conn = connection(github, waits)
    github.faults.append(
        Fault("GET", r"/pulls$", status, times=10,
              message="You have exceeded a secondary rate limit. Please wait a few minutes.")
    )  # fmt: skip
    with pytest.raises(GitHubError) as caught:
        read_pulls(conn)
    assert waits == [60.0, 120.0]  # the next, 240 s, is past MAX_RATE_WAIT_S: stop
    assert hits(github, "GET", "/pulls") == 3
    assert caught.value.status == status and rate_limited(caught.value)


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_with_retry_after_waits_exactly_that(
    github: FakeGitHub, status: int
) -> None:
    waits: list[float] = []
    conn = connection(github, waits)
    github.faults.append(
        Fault("GET", r"/pulls$", status, times=1, headers={"Retry-After": "7"},
              message="You have exceeded a secondary rate limit.")
    )  # fmt: skip
    read_pulls(conn)
    assert waits == [7.0] and hits(github, "GET", "/pulls") == 2


def test_a_403_that_is_no_rate_limit_is_not_retried(github: FakeGitHub) -> None:
    waits: list[float] = []
    conn = connection(github, waits)
    github.faults.append(
        Fault("GET", r"/pulls$", 403, times=10, message="Resource not accessible by integration")
    )
    with pytest.raises(GitHubError) as caught:
        read_pulls(conn)
    assert waits == [] and hits(github, "GET", "/pulls") == 1
    assert not rate_limited(caught.value)


SECONDARY = "You have exceeded a secondary rate limit."


def post_comment(conn: Connection) -> None:
    with translate_errors("commenting"):
        conn.api.requester.requestJsonAndCheck(
            "POST", f"{conn.repo.url}/issues/7/comments", input={"body": "hi"}
        )


@pytest.mark.parametrize("status", [403, 429])
def test_a_write_answered_with_retry_after_but_no_secondary_limit_message_is_not_sent_again(
    github: FakeGitHub, status: int
) -> None:
    """The comment was written (a gateway answered after GitHub did it): re-sending it would
    post it twice. Only GitHub's documented secondary-limit message says it was refused."""
    arrange(github)
    before = len(github.pulls[7].issue_comments)
    waits: list[float] = []
    conn = connection(github, waits)
    github.faults.append(
        Fault("POST", r"/issues/7/comments$", status, after=True, headers={"Retry-After": "1"},
              message="Too Many Requests")
    )  # fmt: skip
    with pytest.raises(GitHubError) as caught:
        post_comment(conn)
    assert hits(github, "POST", "/issues/7/comments") == 1 and waits == []
    assert len(github.pulls[7].issue_comments) == before + 1 and caught.value.status == status


@pytest.mark.parametrize("status", [403, 429])
def test_a_write_refused_at_githubs_secondary_limit_is_sent_again_after_the_wait(
    github: FakeGitHub, status: int
) -> None:
    arrange(github)
    before = len(github.pulls[7].issue_comments)
    waits: list[float] = []
    conn = connection(github, waits)
    github.faults.append(
        Fault("POST", r"/issues/7/comments$", status, headers={"Retry-After": "3"},
              message=SECONDARY)
    )  # fmt: skip
    post_comment(conn)
    assert hits(github, "POST", "/issues/7/comments") == 2 and waits == [3.0]
    assert len(github.pulls[7].issue_comments) == before + 1


@pytest.mark.parametrize("header", ["0", "soon", "-5"])
def test_an_unusable_retry_after_counts_as_absent_and_waits_at_least_a_minute(
    github: FakeGitHub, header: str
) -> None:
    """``Retry-After: 0`` was retried at once (four requests in a burst); ``soon`` or ``-5``
    became "cannot reach the GitHub API" with no status, so a backfill skipped the PR instead of
    stopping at the limit."""
    waits: list[float] = []
    conn = connection(github, waits)
    github.faults.append(
        Fault("GET", r"/pulls$", 429, times=10, headers={"Retry-After": header},
              message=SECONDARY)
    )  # fmt: skip
    with pytest.raises(GitHubError) as caught:
        read_pulls(conn)
    assert waits == [60.0, 120.0] and hits(github, "GET", "/pulls") == 3
    assert caught.value.status == 429 and rate_limited(caught.value)


def test_a_spent_budget_whose_reset_has_passed_says_it_resets_now(github: FakeGitHub) -> None:
    waits: list[float] = []
    conn = connection(github, waits)
    past = int(time.time()) - 3600
    github.faults.append(
        Fault("GET", r"/pulls$", 403, times=1, message="API rate limit exceeded for installation ID 1.",
              headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(past)})
    )  # fmt: skip
    with pytest.raises(GitHubError) as caught:
        read_pulls(conn)
    assert "the budget resets now" in caught.value.message
    later = time.strftime("at %H:%M UTC", time.gmtime(past + 7200))
    assert resets_at(past + 7200, now=past) == later


def test_a_502_after_github_created_the_pr_makes_no_duplicate(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    github.faults.append(Fault("POST", r"/pulls", 502, after=True))
    assert main(["run", "--pr", "7"], env=env) == 0
    assert len(bot_pulls(github)) == 1
    assert hits(github, "POST", "/pulls") == 1  # looked up, not re-sent
    github.pulls[bot_pulls(github)[0]].body = None  # a rerun finds it again
    assert main(["run", "--pr", "7"], env=env) == 0
    assert len(bot_pulls(github)) == 1


def test_a_502_after_a_comment_was_posted_makes_no_duplicate(
    github: FakeGitHub, ready: Path, env: dict[str, str], llm: FakeLLM, tmp_path: Path
) -> None:
    assert main(["run", "--pr", "7"], env=env) == 0
    (number,) = bot_pulls(github)
    github.faults.append(Fault("POST", rf"/issues/{number}/comments", 502, after=True))
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "issue": {"number": number, "pull_request": {}},
                "comment": {
                    "id": 1,
                    "body": "/prompt-trainer close",
                    "author_association": "OWNER",
                    "user": {"login": "maria"},
                },
            }
        )
    )
    command = {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(event)}
    assert main(["respond"], env={**env, **command}) == 0
    assert main(["respond"], env={**env, **command}) == 0
    assert len(github.pulls[number].issue_comments) == 1
    assert github.pulls[number].state == "closed"


def test_a_read_that_keeps_failing_stops_with_a_clear_error_and_keeps_the_evidence(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    github.faults.append(Fault("GET", r"/pulls/8", 500, times=99))
    assert main(["collect", "--pr", "7", "--pr", "8"], env=env) == 3
    err = capsys.readouterr().err
    assert "GitHub kept failing while reading pull request #8, after 3 retries" in err
    assert "fix:" in err
    ledger = github.files_at("prompt-trainer-data")[".prompt-trainer/samples.jsonl"]
    assert "octo-org/agent-repo#7" in ledger  # collected before the fault, kept
    assert hits(github, "GET", "/pulls/8") == 4  # bounded: one try and three retries


@pytest.mark.parametrize(("status", "reason"), [(404, "not found"), (410, "expired")])
def test_a_listed_artifact_that_is_gone_is_skipped_with_the_reason(
    github: FakeGitHub, ready: Path, env: dict[str, str], status: int, reason: str
) -> None:
    head = github.pulls[7].head_sha
    github.add_run(
        head, [Artifact(id=github.next_id(), name="junit-late", data=make_zip({"a.xml": "x"}))]
    )
    github.runs[-1][2][0].status = status
    if status == 410:
        github.runs[-1][2][0].expired = True
    assert main(["collect", "--pr", "7"], env=env) == 0
    data = json.loads((ready / ".prompt-trainer" / "samples.jsonl").read_text())
    assert any(reason in s["reason"] for s in data["skipped"]), data["skipped"]


def test_an_llm_retry_waits_the_callers_backoff_or_the_providers_retry_after() -> None:
    from dspy.utils.exceptions import LMRateLimitError, LMServerError  # noqa: PLC0415

    from prompt_trainer.train.calls import retry_wait  # noqa: PLC0415

    plain = LMServerError("down", model="m")
    assert [retry_wait(plain, n, backoff_s=0.5) for n in range(3)] == [1.0, 2.0, 4.0]
    assert retry_wait(plain, 1, backoff_s=0) == 0
    told = LMRateLimitError("slow down", model="m", retry_after=7)
    assert retry_wait(told, 0, backoff_s=0) == 7
    assert retry_wait(LMRateLimitError("x", model="m", retry_after=1e9), 0, backoff_s=0) == 60


def test_a_flaky_llm_is_retried(
    github: FakeGitHub, ready: Path, env: dict[str, str], llm: FakeLLM
) -> None:
    llm.fail_next, llm.fail_status = 1, 500
    assert main(["run", "--pr", "7"], env=env) == 0
    # the failed request, its retry, and the check
    assert len(llm.requests) == 3 and len(bot_pulls(github)) == 1


@pytest.mark.parametrize("status", [500, 429])
def test_an_llm_down_for_the_whole_run_fails_clearly_and_keeps_the_evidence(
    github: FakeGitHub,
    ready: Path,
    env: dict[str, str],
    llm: FakeLLM,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    llm.status = status
    assert main(["run", "--pr", "7"], env=env) == 4
    assert "LLM" in capsys.readouterr().err
    assert 1 < len(llm.requests) <= 4  # bounded retries
    assert not bot_pulls(github)  # no partial candidate proposed
    assert not (ready / ".prompt-trainer" / "candidates").exists()
    assert "octo-org/agent-repo#7" in (ready / ".prompt-trainer" / "samples.jsonl").read_text()


@pytest.mark.parametrize(
    "reply",
    [
        "not the expected fields at all",
        "[[ ## candidate_main_prompt ## ]]\n# Rules",  # truncated
        chat_adapter_reply(candidate_main_prompt="x", candidate_subagents="not a list"),
    ],
)
def test_a_malformed_reply_proposes_nothing(
    github: FakeGitHub,
    ready: Path,
    env: dict[str, str],
    llm: FakeLLM,
    capsys: pytest.CaptureFixture[str],
    reply: str,
) -> None:
    llm.script = [lambda request: reply]
    # The call's contribution is lost after one repair request, not the run.
    assert main(["run", "--pr", "7"], env=env) == 0
    assert len(llm.requests) == 2
    analysis = ready / ".prompt-trainer" / "candidates" / "coder" / "candidate-001" / "analysis.md"
    assert "unreadable, also after a repair request" in analysis.read_text()
    assert not bot_pulls(github)
    assert (ready / ".prompt-trainer" / "samples.jsonl").exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", r"/git/blobs"),
        ("POST", r"/git/trees"),
        ("POST", r"/git/commits"),
        ("POST", r"/git/refs"),
        ("POST", r"/pulls"),
        ("POST", r"/issues/\d+/labels"),
    ],
)
def test_a_run_stopped_at_any_write_leaves_a_state_the_next_run_completes(
    github: FakeGitHub, ready: Path, env: dict[str, str], method: str, path: str
) -> None:
    """A run that dies at one write (here: the write fails for good, which stops the run at
    that point, like a kill) leaves no half-made branch or PR behind that the next run
    trips on: the rerun ends with one PR, the candidate's files on its branch, one sample."""
    github.faults.append(Fault(method, path, 400, times=99, message="stopped here"))
    assert main(["run", "--pr", "7"], env=env) == 3
    github.faults.clear()
    assert main(["run", "--pr", "7"], env=env) == 0
    (number,) = bot_pulls(github)
    files = github.files_at(BRANCH)
    assert "Round money with Decimal.quantize." in files["CLAUDE.md"]
    assert github.pulls[number].labels == ["prompt-trainer"]
    ledger = github.files_at("prompt-trainer-data")[".prompt-trainer/samples.jsonl"]
    assert ledger.count('"id":"octo-org/agent-repo#7"') == 1
    assert (ready / ".prompt-trainer" / "samples.jsonl").read_text().count("\n") == 1


def test_a_slow_read_times_out_and_is_retried(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    # The slow answer never comes (the server holds it until the client hangs up), so the 1 s
    # time-out is what ends the wait, however fast the machine.
    slow = Fault("GET", r"/pulls/7/reviews", 200, delay=120)
    github.faults.append(slow)
    assert main(["run", "--pr", "7"], env={**env, "PROMPT_TRAINER_HTTP_TIMEOUT": "1"}) == 0
    # The run gave up after 1 s, closed the request and retried.
    assert slow.times == 0 and slow.abandoned.wait(30) and not slow.finished
    assert len(bot_pulls(github)) == 1


def test_lists_are_read_across_pages(github: FakeGitHub, ready: Path, env: dict[str, str]) -> None:
    github.page_size = 1
    assert main(["collect", "--pr", "7"], env=env) == 0
    data = json.loads((ready / ".prompt-trainer" / "samples.jsonl").read_text())
    assert len([f for f in data["feedback"] if f["kind"] == "review_comment"]) == 2
    assert any(r.query.get("page") == ["2"] for r in github.requests)


def test_a_page_that_fails_once_is_retried_and_one_that_is_missing_stops_clearly(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    github.page_size = 1
    github.faults.append(Fault("GET", r"/pulls/7/comments", 502, query={"page": "2"}))
    assert main(["collect", "--pr", "7"], env=env) == 0
    github.faults.append(Fault("GET", r"/pulls/7/comments", 404, times=9, query={"page": "2"}))
    assert main(["collect", "--pr", "7"], env=env) == 3
    err = capsys.readouterr().err
    assert "while reading reviews and comments of #7: 404" in err and "fix:" in err
    # The sample from the first collection is still stored, unchanged.
    data = json.loads((ready / ".prompt-trainer" / "samples.jsonl").read_text())
    assert len([f for f in data["feedback"] if f["kind"] == "review_comment"]) == 2


def test_a_second_run_while_one_holds_the_lock_stops_without_writing(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client = GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)
    assert client.acquire_lock("prompt-trainer/lock", holder="run 41", stale_after_s=3600) is None
    assert main(["run", "--pr", "7"], env=env) == 0
    assert "another prompt-trainer run is in progress (run 41 since" in capsys.readouterr().err
    assert not bot_pulls(github) and "heads/prompt-trainer-data" not in github.refs
    assert main(["collect", "--pr", "7"], env=env) == 0  # collect too
    assert "heads/prompt-trainer-data" not in github.refs
    client.release_lock("prompt-trainer/lock", holder="run 41")
    assert main(["run", "--pr", "7"], env=env) == 0
    assert len(bot_pulls(github)) == 1
    assert "prompt-trainer/lock" not in github.refs  # released when the run ended


def test_a_stale_lock_of_a_run_that_died_is_taken_over(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    client = GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)
    assert client.acquire_lock("prompt-trainer/lock", holder="run 40", stale_after_s=1) is None
    config = ready / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "store:\n  lock_stale_minutes: 1\n")
    sha = github.refs["prompt-trainer/lock"]
    github.commits[sha]["message"] = github.commits[sha]["message"].replace(
        "since: 20",
        "since: 19",  # a hundred years old
    )
    assert main(["run", "--pr", "7"], env=env) == 0
    assert len(bot_pulls(github)) == 1 and "prompt-trainer/lock" not in github.refs


def test_a_model_that_answers_nothing_in_time_stops_the_run_with_the_time_out_fix(
    github: FakeGitHub,
    ready: Path,
    env: dict[str, str],
    llm: FakeLLM,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ready / ".github" / "prompt-trainer.yml"
    config.write_text(
        config.read_text().replace("  holdout: 0", "  holdout: 0\n  llm_timeout_s: 1")
    )
    # The answer never comes (held until the client hangs up): the 1 s time-out ends the wait,
    # however fast the machine. Nothing answered yet: every call would wait as long.
    llm.slow_next = 1
    assert main(["run", "--pr", "7"], env=env) == 4
    err = capsys.readouterr().err
    assert "the LLM endpoint for openai/test-model sent no answer within 1 s" in err
    assert "raise training.llm_timeout_s" in err and "cannot reach" not in err
    # Not retried at full length, and the abandoned request was closed.
    assert llm.arrived == 1 and llm.hung_up.wait(30) and llm.abandoned == 1
    assert not llm.slow_finished and not bot_pulls(github)
