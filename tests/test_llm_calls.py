"""The call layer (``train.calls``) against the local LLM server playing a small local model
(llama.cpp with an 8,192-token context): a looping answer and a context-length 400 lose one call,
not the run; the output cap goes out as ``max_tokens`` and fits the context; an unreadable
answer is asked again on a rerun instead of being served from the cache; a time-out loses its
call and closes the request; losses are said where they happened, on the console, in
``analysis.md``, ``candidate.json`` and the PR body."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.cli import main
from prompt_trainer.settings import LLMSettings
from prompt_trainer.train.calls import ENDPOINT_PROVIDER, routed_model
from prompt_trainer.train.trainer import REPAIR_TAIL_CHARS
from tests.scripted import lenient, reflect
from tests.servers.llm import HOLD, FakeLLM, Hold, Refusal, Reply, any_signature, by_signature
from tests.test_strategies import NEW_RULE, curate, judge

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"
CONTEXT = 8192
MODEL = "openai/smollm2-135m-instruct"
#: What a 135M model writes when it loops: no field markers, until the output cap stops it.
LOOP = "I will check the money rounding again and then I will check it again. " * 800
LLAMA_CPP_400 = (
    "the request exceeds the available context size (8244 tokens > 8192), try increasing it"
)


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled example, collected, configured for a local model with an 8k context."""
    root = tmp_path / "basic"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    config = root / ".github" / "prompt-trainer.yml"
    config.write_text(
        config.read_text() + f"training:\n  holdout: 0\n  context_tokens: {CONTEXT}\n"
    )
    return root


def scripted(*first: Reply) -> list[Reply]:
    """These replies first, then a readable answer to any call."""
    return [*first, any_signature]


def train(llm: FakeLLM) -> int:
    return main(["train", "--api-base", llm.api_base, "--model", MODEL], env={})


def candidate(root: Path, n: int = 1) -> Path:
    return root / ".prompt-trainer" / "candidates" / "coder" / f"candidate-{n:03d}"


def prompt_chars(request: dict[str, Any]) -> int:
    return sum(len(str(m.get("content", ""))) for m in request["messages"])


def test_a_looping_answer_then_a_context_length_400_lose_that_call_not_the_run(
    local: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    llm.context_tokens = CONTEXT  # llama.cpp: refuses longer prompts, cuts at max_tokens
    llm.script = scripted(lambda _: LOOP, lambda _: Refusal(400, LLAMA_CPP_400, "exceed_context"))
    assert train(llm) == 0
    first, repair = llm.requests[:2]
    # The cap goes out as max_tokens (llama.cpp ignores max_completion_tokens) and leaves the
    # prompt its room in the context.
    for request in llm.requests:
        assert "max_completion_tokens" not in request
        assert prompt_chars(request) // 4 + request["max_tokens"] <= CONTEXT
    assert first["max_tokens"] < 8000  # lowered from the default cap to fit
    # The repair request sends the broken answer's tail, not all of it.
    sent = repair["messages"][-2]["content"]
    assert repair["messages"][:-2] == first["messages"]
    assert sent.startswith("[... the first ") and len(sent) < REPAIR_TAIL_CHARS + 80
    assert sent.endswith(LOOP[: first["max_tokens"] * 4][-200:])
    assert "could not be read: missing " in repair["messages"][-1]["content"]
    # The run went on; what was lost is said where it happened, and why.
    err = capsys.readouterr().err
    lost = "the repair request failed: the endpoint refused the request (HTTP 400): " + (
        LLAMA_CPP_400
    )
    assert lost in err and "train: coder: 1 LLM call(s) lost" in err
    # Named by the call and what it read: the cluster and its newest samples.
    reflection = "a reflection on cluster test:"
    assert reflection in err and "StringSignature" not in err
    record = json.loads((candidate(local) / "candidate.json").read_text())
    (note,) = record["lost"]
    assert note.startswith(reflection) and "(local:pr-1" in note and lost in note
    analysis = (candidate(local) / "analysis.md").read_text()
    assert analysis.startswith("**1 LLM call(s) lost**, so this analysis is incomplete")
    assert note in analysis
    body = (candidate(local) / "body.md").read_text()
    assert "> [!NOTE]\n> 1 LLM call(s) were lost" in body and reflection in body


def refused_once(then: Reply) -> Reply:
    """A context-length 400 for the first request of a signature, then ``then``."""
    refused: list[bool] = []

    def reply(request: dict[str, Any]) -> str | Refusal | Hold:
        if not refused:
            refused.append(True)
            return Refusal(400, LLAMA_CPP_400, "exceed_context")
        return then(request)

    return reply


def test_a_context_length_400_on_a_judge_call_loses_that_judge_call_not_the_evaluation(
    local: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    """Six held-out PRs, one judge call each: the first is refused with a 400; the other five
    are judged, the edit is measured on them, and the evaluation names the PR it could not
    read."""
    config = local / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text().replace("  holdout: 0\n", ""))
    judged = refused_once(judge)
    llm.script = [by_signature(effects=judged, root_cause=reflect, verdicts=lenient, edits=curate)]
    assert train(llm) == 0
    judge_calls = [r for r in llm.requests if "[[ ## effects ## ]]" in str(r["messages"][0])]
    assert len(judge_calls) == 6  # the refused one is not sent again
    record = json.loads((candidate(local) / "candidate.json").read_text())
    (note,) = record["lost"]
    assert note.startswith("the held-out judge on local:pr-108: the endpoint refused the ")
    assert "(HTTP 400): " + LLAMA_CPP_400 in note
    assert "1 LLM call(s) lost" in capsys.readouterr().err
    evaluation = json.loads((candidate(local) / "evaluation.json").read_text())
    assert evaluation["held_out"]["unreadable"] == ["local:pr-108"]
    edit = evaluation["edits"][0]
    assert (edit["own"], edit["others"]) == (2, 1)  # judged on the five PRs it read
    assert NEW_RULE in (candidate(local) / "CLAUDE.md").read_text()


def test_a_context_length_400_on_the_check_loses_the_check_and_the_rule_decides(
    local: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    """The batched check is refused: its edits rest on the deterministic support rule (the
    supported money rule is kept, the junk ones were dropped before the check), and the loss
    is named: the check, how many edits it read, why."""
    llm.script = [by_signature(root_cause=reflect, verdicts=refused_once(lenient), edits=curate)]
    assert train(llm) == 0
    record = json.loads((candidate(local) / "candidate.json").read_text())
    (note,) = record["lost"]
    assert note.startswith("the check of 1 edit(s): the endpoint refused the request (HTTP 400)")
    err = capsys.readouterr().err
    assert "train: coder: 1 LLM call(s) lost" in err
    analysis = (candidate(local) / "analysis.md").read_text()
    assert "the edits rest on the rule alone" in analysis
    assert NEW_RULE in (candidate(local) / "CLAUDE.md").read_text()


def test_an_endpoint_that_goes_down_mid_run_stops_the_run_after_three_lost_calls(
    local: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    """One 5xx that outlives its retries is that call's loss; three calls in a row lost to the
    endpoint's own failure mean it is down: the run stops (exit 4) instead of losing every call
    left and proposing what the losses leave."""

    def then_down(request: dict[str, Any]) -> str:
        llm.status = 500  # every request from now on
        return any_signature(request)

    llm.script = [then_down]
    args = ["train", "--api-base", llm.api_base, "--model", MODEL]
    assert main(args, env={"PROMPT_TRAINER_BACKOFF_S": "0"}) == 4
    assert len(llm.requests) == 1 + 3 * 3  # three calls after the first, each with 2 retries
    err = capsys.readouterr().err
    assert "prompt-trainer: error: the LLM call failed" in err and "scripted failure" in err
    assert not candidate(local).exists()


def test_an_unreadable_answer_is_asked_again_on_a_rerun_not_served_from_the_cache(
    local: Path, llm: FakeLLM
) -> None:
    llm.script = scripted(lambda _: "I am not sure.", lambda _: "Still not sure.")
    assert train(llm) == 0
    first_run = list(llm.requests)
    assert json.loads((candidate(local) / "candidate.json").read_text())["lost"]
    assert train(llm) == 0
    again = llm.requests[len(first_run) :]
    # Only the call that could not be read is sent again (and now answered); every answer
    # that was read is served from the cache.
    assert [r["messages"] for r in again] == [first_run[0]["messages"]]
    assert not json.loads((candidate(local, 2) / "candidate.json").read_text())["lost"]


def test_a_time_out_once_the_endpoint_answered_loses_that_call_and_closes_its_request(
    local: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    config = local / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "  llm_timeout_s: 2\n")
    llm.script = scripted(any_signature, lambda _: HOLD)  # the second answer never comes
    assert train(llm) == 0
    assert llm.hung_up.wait(30) and llm.abandoned == 1 and not llm.slow_finished
    held = llm.requests[1]["messages"]
    assert [r["messages"] for r in llm.requests].count(held) == 1  # not retried
    err = capsys.readouterr().err
    assert "no answer within 2 s (training.llm_timeout_s)" in err
    assert "cannot reach" not in err


def test_a_request_that_cannot_fit_the_context_is_not_sent(
    local: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    config = local / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text().replace(f"{CONTEXT}", "1024"))
    llm.script = [any_signature]
    assert train(llm) == 0
    assert not llm.requests
    err = capsys.readouterr().err
    assert "leaves no room for an answer in the model's context of 1,024 tokens" in err
    assert "(training.context_tokens)" in err


@pytest.mark.parametrize(
    ("model", "api_base", "routed"),
    [
        ("openai/llama-3.2-3b", "http://localhost:8080/v1", f"{ENDPOINT_PROVIDER}/llama-3.2-3b"),
        ("openai/qwen2.5:7b", "http://localhost:11434/v1", f"{ENDPOINT_PROVIDER}/qwen2.5:7b"),
        ("openai/gpt-4.1", "https://api.openai.com/v1", "openai/gpt-4.1"),
        ("openai/o3-mini", "https://gateway.example/v1", "openai/o3-mini"),
        ("openai/gpt-4.1", None, "openai/gpt-4.1"),
        ("anthropic/claude-sonnet-4-5", "https://proxy.example", "anthropic/claude-sonnet-4-5"),
    ],
)
def test_only_openai_compatible_servers_get_max_tokens(
    model: str, api_base: str | None, routed: str
) -> None:
    """OpenAI itself, and its reasoning models anywhere, keep max_completion_tokens."""
    assert routed_model(LLMSettings(model=model, api_base=api_base)) == routed


def test_the_cap_reaches_the_server_as_max_tokens_without_litellm(llm: FakeLLM) -> None:
    code = (
        "import sys, tempfile, pathlib\n"
        "from prompt_trainer.settings import LLMSettings\n"
        "from prompt_trainer.train.trainer import build_lm\n"
        f"llm = LLMSettings(model='{MODEL}', api_base='{llm.api_base}')\n"
        "lm = build_lm(llm, cache_dir=pathlib.Path(tempfile.mkdtemp()))\n"
        "lm(messages=[{'role': 'user', 'content': 'hi'}], max_tokens=123)\n"
        "print('litellm' in sys.modules)\n"
    )
    llm.script = [lambda _: "ok"]
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"  # DSPy's own client, not LiteLLM
    (request,) = llm.requests
    assert request["max_tokens"] == 123 and "max_completion_tokens" not in request
    assert request["model"] == "smollm2-135m-instruct"


def test_a_revision_the_model_could_not_write_is_asked_again_when_retried(
    tmp_path: Path, llm: FakeLLM
) -> None:
    from prompt_trainer.errors import LLMError  # noqa: PLC0415
    from prompt_trainer.models import Feedback, PromptFile, PromptSet  # noqa: PLC0415
    from prompt_trainer.settings import Target  # noqa: PLC0415
    from prompt_trainer.train.revise import revise  # noqa: PLC0415

    main_file = PromptFile(path="CLAUDE.md", content="# Rules\n\n- Write tests.\n")
    proposed = PromptSet(target="coder", main=main_file, files=(main_file,))
    review = [Feedback(id="c1", kind="review_comment", author="maria", body="Say pytest.",
                       trusted=True)]  # fmt: skip
    settings = LLMSettings(model=MODEL, api_base=llm.api_base)
    llm.script = [lambda _: "Sure, I will.", any_signature]

    def ask() -> None:
        revise(proposed, Target(name="coder", main="CLAUDE.md"), review, llm=settings,
               cache_dir=tmp_path / "cache")  # fmt: skip

    with pytest.raises(LLMError, match="did not answer in the expected format"):
        ask()
    ask()  # "retry": the unreadable answer is not served again
    assert len(llm.requests) == 2
    assert llm.requests[0]["messages"] == llm.requests[1]["messages"]
    ask()  # the answer that was read is
    assert len(llm.requests) == 2
