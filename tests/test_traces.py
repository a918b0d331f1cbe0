"""Agent traces: Claude Code formats by content, usage counted once per message, and the real
Claude transcripts against their ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompt_trainer.collect.traces import parse_trace
from prompt_trainer.models import Skipped, Trace
from tests.conftest import REALDATA


def parse(path: Path) -> Trace | Skipped:
    return parse_trace(path, source=path.name, max_bytes=10_000_000)


def assistant(mid: str, blocks: list[dict[str, object]], out: int) -> dict[str, object]:
    return {
        "type": "assistant",
        "sessionId": "s1",
        "message": {
            "id": mid,
            "model": "claude-x",
            "content": blocks,
            "usage": {"input_tokens": 10, "output_tokens": out},
        },
    }


def test_transcript_lines_sharing_a_message_id_count_once(tmp_path: Path) -> None:
    lines = [
        {"type": "user", "message": {"role": "user", "content": "fix the bug"}},
        assistant("m1", [{"type": "text", "text": "Looking"}], 5),
        assistant(
            "m1", [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}], 9
        ),
        {
            "type": "user",
            "message": {
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "is_error": True,
                        "content": "ls: denied",
                    }
                ]
            },
        },
        {"type": "brand-new-record", "x": 1},
    ]
    path = tmp_path / "session.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + '\n{"type": "assist')
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.format == "claude-code"
    assert (trace.input_tokens, trace.output_tokens) == (10, 9)
    assert (trace.tool_calls, trace.tool_errors, trace.turns) == (1, 1, 1)
    assert trace.session_id == "s1" and trace.model == "claude-x"
    assert [s.text for s in trace.steps if s.is_error] == ["ls: denied"]


def test_execution_file_result_totals(tmp_path: Path) -> None:
    records = [
        {"type": "system", "subtype": "init", "session_id": "abc", "model": "claude-y"},
        {
            "type": "result",
            "subtype": "error_max_turns",
            "is_error": True,
            "num_turns": 30,
            "duration_ms": 4500,
            "total_cost_usd": 1.25,
            "result": "gave up",
            "usage": {"input_tokens": 100, "output_tokens": 20},
        },
    ]
    path = tmp_path / "claude-execution-output.json"
    path.write_text(json.dumps(records, indent=2))
    trace = parse(path)
    assert isinstance(trace, Trace)
    assert (trace.turns, trace.cost_usd, trace.duration_s, trace.is_error) == (30, 1.25, 4.5, True)
    assert (trace.input_tokens, trace.output_tokens, trace.result) == (100, 20, "gave up")


def test_text_fallback_and_empty_and_binary(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Agent log\nran tests, token ghp_" + "x" * 36)
    trace = parse(notes)
    assert isinstance(trace, Trace) and trace.format == "text"
    assert "[REDACTED:github-token]" in trace.steps[0].text
    empty = tmp_path / "empty.jsonl"
    empty.write_text("  \n")
    assert isinstance(parse(empty), Skipped)
    binary = tmp_path / "blob.log"
    binary.write_bytes(b"\x00\x01\x02")
    assert isinstance(parse(binary), Skipped)


def _claude_transcripts() -> list[dict[str, object]]:
    manifest = REALDATA / "traces" / "EXPECTED.json"
    if not manifest.exists():
        return []
    files = json.loads(manifest.read_text())["files"]
    return [f for f in files if str(f["format"]).startswith("claude-code-transcript")]


@pytest.mark.skipif(not (REALDATA / "traces").exists(), reason="../shared/realdata not present")
@pytest.mark.parametrize("entry", _claude_transcripts(), ids=lambda e: str(e["file"]))
def test_real_claude_transcripts_match_ground_truth(entry: dict[str, object]) -> None:
    facts = entry["derived_facts"]
    assert isinstance(facts, dict)
    trace = parse(REALDATA / "traces" / str(entry["file"]))
    assert isinstance(trace, Trace) and trace.format == "claude-code"
    assert trace.tool_calls == facts["tool_use_total"]
    assert trace.tool_errors == facts["tool_result_is_error_true"]
    usage = facts.get("usage_sum_last_record_per_message_id")
    if isinstance(usage, dict) and facts.get("unique_assistant_message_ids"):
        assert trace.output_tokens == usage["output_tokens"]
        assert trace.input_tokens == usage["input_tokens"]
