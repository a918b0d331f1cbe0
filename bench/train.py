"""Trainer benchmark: evidence compression on real traces, and LM calls per strategy.

Run with ``.venv/bin/python bench/train.py [--traces DIR]`` (default ``../shared/realdata/traces``).

(1) For every real trace: raw tokens (file bytes / 4) against the tokens of the evidence the
model is sent for it (``evidence_view`` then ``fit_budget`` at the default 4,000-token budget),
the ratio, and a check that every tool error of the parsed trace is still cited (its id and
tool) after compression. Target: at least 10x fewer tokens on transcripts over 100 KB, with
every failure signal kept.
(2) LM calls of each strategy on 10 samples with failing tests and review comments, against the
local OpenAI-compatible server of the test suite (scripted replies, no network). Target:
``evolve`` over 10 samples in at most 25 calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply  # noqa: E402

from prompt_trainer.collect.traces import parse_trace  # noqa: E402
from prompt_trainer.models import (  # noqa: E402
    Feedback,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
    Trace,
)
from prompt_trainer.settings import LLMSettings, Target  # noqa: E402
from prompt_trainer.train import TrainRequest, train  # noqa: E402
from prompt_trainer.train.evidence import estimate_tokens, evidence_view, fit_budget  # noqa: E402


def compression(traces: Path) -> None:
    print("(1) evidence compression on real traces (default budget: 4,000 tokens per sample)")
    print(f"{'trace':60} {'raw tok':>9} {'sent tok':>9} {'ratio':>7}  errors kept")
    big_ratios = []
    for path in sorted(p for p in traces.rglob("*") if p.is_file() and p.suffix != ".md"):
        if path.name == "EXPECTED.json":
            continue
        trace = parse_trace(path, source=path.name, max_bytes=300 * 2**20, max_text=2000)
        if not isinstance(trace, Trace):
            continue
        sample = Sample(
            id="s", pull=PullRequestInfo(), traces=(trace,), collected_at=datetime.now(UTC)
        )
        view = fit_budget(evidence_view(sample), 4000)
        raw = path.stat().st_size // 4
        sent = estimate_tokens(view)
        wanted = {f"trace:{path.name}#{n}" for n, s in enumerate(trace.steps) if s.is_error}
        kept = {e.id for t in view.traces for e in t.error_steps}
        ok = "yes" if wanted <= kept else f"NO ({len(wanted - kept)} lost)"
        ratio = raw / max(sent, 1)
        if path.stat().st_size > 100_000:
            big_ratios.append(ratio)
        name = str(path.relative_to(traces))[:60]
        print(f"{name:60} {raw:>9,} {sent:>9,} {ratio:>6.1f}x  {ok} ({len(wanted)})")
    if big_ratios:
        print(f"transcripts over 100 KB: {len(big_ratios)}, smallest ratio {min(big_ratios):.1f}x")


def samples(n: int) -> list[Sample]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        Sample(
            id=f"o/r#{k}",
            pull=PullRequestInfo(number=k, closed_at=start + timedelta(hours=k)),
            test_runs=(
                TestRun(
                    source="junit.xml",
                    cases=(
                        TestCase(
                            classname="tests.test_fees",
                            name=f"test_{k}",
                            status="failed",
                            message="AssertionError: 10.004999 != Decimal('10.00')",
                        ),
                    ),
                    plain_passes=50,
                ),
            ),
            feedback=(
                Feedback(
                    kind="review_comment",
                    id=f"c{k}",
                    author="maria",
                    trusted=True,
                    body="Use Decimal and quantize.",
                    url=f"https://github.com/o/r/pull/{k}#discussion_r{k}",
                ),
            ),
            collected_at=start,
        )
        for k in range(n)
    ]


def replies() -> object:
    return by_signature(
        what_went_wrong=lambda r: chat_adapter_reply(
            what_went_wrong="float money",
            implicated="missing",
            evidence=["tests.test_fees::test_0"],
        ),
        edits=lambda r: chat_adapter_reply(
            edits=[
                {
                    "op": "add",
                    "new_text": "Quantize money.",
                    "evidence": ["tests.test_fees::test_0"],
                }
            ],
            analysis_summary="x",
        ),
        rules=lambda r: chat_adapter_reply(
            rules=[
                {
                    "category": "test_failure",
                    "rule": "Quantize money.",
                    "when": "money",
                    "why": "rounding",
                    "evidence": ["tests.test_fees::test_0"],
                }
            ],
            analysis_summary="x",
        ),
        candidate_main_prompt=lambda r: chat_adapter_reply(
            candidate_main_prompt="# Rules\n\n- Quantize money.\n",
            candidate_subagents=[],
            analysis_summary="x",
        ),
        score=lambda r: chat_adapter_reply(score=0.8, feedback="ok"),
    )


def calls_per_strategy() -> None:
    print("\n(2) LM calls per strategy, 10 samples (3 held out), local LM server")
    main = PromptFile(path="CLAUDE.md", content="# Rules\n\n- Write tests.\n")
    current = PromptSet(target="coder", main=main, files=(main,))
    llm = FakeLLM()
    try:
        llm.script = [replies()]  # type: ignore[list-item]
        for strategy in ("evolve", "rules", "rewrite"):
            before = len(llm.requests)
            with tempfile.TemporaryDirectory() as cache:
                request = TrainRequest(
                    target=Target(name="coder", main="CLAUDE.md"),
                    current=current,
                    samples=samples(10),
                    llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
                    cache_dir=Path(cache),
                    holdout=0.3,
                )
                (candidate,) = train(request, strategy)
            made = len(llm.requests) - before
            judge = len(candidate.evaluation.scores) * 2 if candidate.evaluation else 0
            print(
                f"{strategy:8} {made:3} calls ({made - judge} training + {judge} judging), "
                f"{candidate.usage.input_tokens:,} input + {candidate.usage.output_tokens:,} "
                f"output tokens, ${candidate.usage.cost_usd or 0:.4f} at gpt-4.1 prices"
            )
    finally:
        llm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--traces", type=Path, default=ROOT.parent / "shared" / "realdata" / "traces"
    )
    args = parser.parse_args()
    if args.traces.is_dir():
        compression(args.traces)
    else:
        print(f"(1) skipped: {args.traces} not found")
    calls_per_strategy()


if __name__ == "__main__":
    main()
