"""Agent traces: every format recognized by content, its counting rules on written cases,
hostile and truncated input, bounded steps, and the real corpus against its ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.cli import main
from prompt_trainer.collect.evidence import parse_trace_file
from prompt_trainer.collect.traces import _reader, parse_trace
from prompt_trainer.models import Skipped, Trace
from prompt_trainer.settings import Limits
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


def write_lines(path: Path, records: list[Any], tail: str = "") -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n" + tail)
    return path


def test_unknown_records_counted_and_truncated_last_line_tolerated(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "session.jsonl",
        [
            {"type": "user", "message": {"role": "user", "content": "fix it"}},
            {"type": "brand-new-record", "x": 1},
            [1, 2],
            assistant("m1", [{"type": "text", "text": "done"}], 5),
        ],
        tail='{"type": "assistant", "message": {"id": "m2", "cont',
    )
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.format == "claude-code"
    assert trace.unknown_records == {"brand-new-record": 1, "non-object list": 1}
    assert trace.bad_lines == 1 and trace.turns == 1 and trace.output_tokens == 5


def test_pretty_printed_stream_json_object(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(
        json.dumps(
            {"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 9},
            indent=2,
        )
    )
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.format == "claude-code"
    assert trace.is_error and trace.turns == 9 and trace.result == "error_max_turns"


def test_codex_rollout_repeated_cumulative_totals_and_failed_calls(tmp_path: Path) -> None:
    def tokens(total: int) -> dict[str, Any]:
        usage = {
            "input_tokens": total,
            "cached_input_tokens": 1,
            "output_tokens": 2,
            "total_tokens": total + 2,
        }
        info = {"total_token_usage": usage, "last_token_usage": usage}
        return {"type": "event_msg", "payload": {"type": "token_count", "info": info}}

    call = {
        "type": "function_call",
        "name": "shell",
        "arguments": '{"command": ["pytest"]}',
        "call_id": "c1",
    }
    output = {
        "type": "function_call_output",
        "call_id": "c1",
        "output": json.dumps({"output": "FAILED", "metadata": {"exit_code": 1}}),
    }
    plain = {
        "type": "function_call_output",
        "call_id": "c2",
        "output": "Exit code: 2\nWall time: 1s",
    }
    path = write_lines(
        tmp_path / "rollout.jsonl",
        [
            {"type": "session_meta", "payload": {"id": "sess"}},
            {"type": "turn_context", "payload": {"model": "gpt-5-codex"}},
            {"type": "response_item", "payload": call},
            tokens(100),
            tokens(100),  # repeated: not a new turn, never summed
            {"type": "response_item", "payload": output},
            {"type": "response_item", "payload": {**call, "call_id": "c2"}},
            {"type": "response_item", "payload": plain},
            tokens(250),
            {"type": "event_msg", "payload": {"type": "future_event"}},
        ],
    )
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.format == "codex-rollout"
    assert (trace.input_tokens, trace.turns, trace.session_id) == (250, 2, "sess")
    assert (trace.tool_calls, trace.tool_errors) == (2, 2)
    assert trace.unknown_records == {"event_msg/future_event": 1}
    failing = [step for step in trace.steps if step.is_error]
    assert failing[0].tool == "shell" and failing[0].text == "FAILED"


def test_codex_exec_failed_command_and_failed_turn(tmp_path: Path) -> None:
    command = {
        "id": "i1",
        "type": "command_execution",
        "command": "npm test",
        "aggregated_output": "1 failing",
        "exit_code": 1,
        "status": "failed",
    }
    path = write_lines(
        tmp_path / "exec.jsonl",
        [
            {"type": "thread.started", "thread_id": "t1"},
            {"type": "turn.started"},
            {"type": "item.completed", "item": command},
            {"type": "turn.failed", "error": {"message": "stream disconnected"}},
        ],
    )
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.format == "codex-exec"
    assert (trace.tool_calls, trace.tool_errors, trace.is_error) == (1, 1, True)
    assert trace.result == "stream disconnected" and trace.session_id == "t1"


def test_otlp_json_spans(tmp_path: Path) -> None:
    def attr(key: str, value: Any) -> dict[str, Any]:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}

    chat = {
        "name": "chat gpt-4o",
        "startTimeUnixNano": "1000000000",
        "endTimeUnixNano": "2000000000",
        "attributes": [
            attr("gen_ai.operation.name", "chat"),
            attr("gen_ai.response.model", "gpt-4o"),
            attr("gen_ai.usage.input_tokens", 100),
            attr("gen_ai.usage.output_tokens", 7),
        ],
        "status": {},
    }
    tool = {
        "name": "execute_tool run_tests",
        "startTimeUnixNano": "2000000000",
        "endTimeUnixNano": "3500000000",
        "attributes": [
            attr("gen_ai.operation.name", "execute_tool"),
            attr("gen_ai.tool.name", "run_tests"),
            attr("error.type", "ToolError"),
        ],
        "status": {"code": 2},
    }
    path = tmp_path / "otlp.json"
    path.write_text(
        json.dumps(
            {
                "resourceSpans": [
                    {"resource": {}, "scopeSpans": [{"scope": {}, "spans": [chat, tool]}]}
                ]
            }
        )
    )
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.format == "otel-genai"
    assert (trace.turns, trace.input_tokens, trace.output_tokens) == (1, 100, 7)
    assert (trace.tool_calls, trace.tool_errors, trace.model, trace.duration_s) == (
        1,
        1,
        "gpt-4o",
        2.5,
    )


def test_swe_agent_exit_without_submission_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "run.traj"
    history = [
        {"role": "system", "content": "sys"},
        {"role": "assistant", "content": "look", "action": "ls -la"},
        {"role": "tool", "content": "a b"},
    ]
    path.write_text(
        json.dumps(
            {
                "trajectory": [],
                "history": history,
                "info": {
                    "exit_status": "exit_cost",
                    "model_stats": {
                        "instance_cost": 3.0,
                        "tokens_sent": 10,
                        "tokens_received": 2,
                        "api_calls": 1,
                    },
                },
            }
        )
    )
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.format == "swe-agent"
    assert trace.is_error and trace.result == "exit_cost" and trace.tool_calls == 1
    assert trace.steps[1].tool == "ls" and trace.cost_usd == 3.0


def test_openhands_error_observation(tmp_path: Path) -> None:
    events = [
        {"id": 0, "source": "user", "action": "message", "args": {"content": "add tests"}},
        {
            "id": 1,
            "source": "agent",
            "action": "run",
            "args": {"command": "pytest", "thought": "run them"},
        },
        {
            "id": 2,
            "source": "agent",
            "observation": "run",
            "content": "1 failed",
            "extras": {"metadata": {"exit_code": 1}},
        },
        {"id": 3, "source": "agent", "action": "finish", "args": {"final_thought": "gave up"}},
    ]
    path = tmp_path / "traj.json"
    path.write_text(json.dumps(events))
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.format == "openhands"
    assert (trace.tool_calls, trace.tool_errors, trace.result) == (1, 1, "gave up")


def test_long_traces_keep_a_bounded_selection_of_steps(tmp_path: Path) -> None:
    records: list[Any] = []
    for i in range(2_000):
        tool_use: dict[str, object] = {
            "type": "tool_use",
            "id": f"t{i}",
            "name": "Bash",
            "input": {"command": f"step {i}"},
        }
        records.append(assistant(f"m{i}", [tool_use], 1))
        result = {
            "type": "tool_result",
            "tool_use_id": f"t{i}",
            "content": f"out {i}",
            "is_error": i == 1_000,
        }
        records.append({"type": "user", "message": {"role": "user", "content": [result]}})
    trace = parse(write_lines(tmp_path / "long.jsonl", records))
    assert isinstance(trace, Trace) and trace.steps_total == 4_000 and trace.tool_calls == 2_000
    assert len(trace.steps) <= 40 + 40 + 3
    errors = [step for step in trace.steps if step.is_error]
    assert errors[0].text == "out 1000" and errors[0].tool == "Bash"
    texts = [step.tool_input or step.text for step in trace.steps]
    assert '{"command": "step 1000"}' in texts  # the call that failed is kept beside it
    assert trace.steps[-1].text == "out 1999"


def _real_traces() -> list[dict[str, Any]]:
    manifest = REALDATA / "traces" / "EXPECTED.json"
    if not manifest.exists():
        return []
    return list(json.loads(manifest.read_text())["files"])


#: EXPECTED.json format label (prefix) -> the format our registry must recognize.
FORMAT_OF = {
    "claude-code-transcript": "claude-code",
    "claude ": "claude-code",
    "claude-code-action": "claude-code",
    "codex-rollout": "codex-rollout",
    "codex exec --json": "codex-exec",
    "swe-agent": "swe-agent",
    "openhands": "openhands",
    "OTel GenAI": "otel-genai",
}


def _check_claude(trace: Trace, facts: dict[str, Any]) -> None:
    if "tool_use_total" in facts:
        assert trace.tool_calls == facts["tool_use_total"]
        assert trace.tool_errors == facts["tool_result_is_error_true"]
    usage = facts.get("usage_sum_last_record_per_message_id") or facts.get(
        "usage_naive_sum_over_records"
    )
    if usage:  # deduplicated by message.id (the naive sum when no record has an id)
        assert trace.input_tokens == usage["input_tokens"]
        assert trace.output_tokens == usage["output_tokens"]
        assert trace.cache_read_tokens == usage["cache_read_input_tokens"]
        assert trace.cache_write_tokens == usage["cache_creation_input_tokens"]
    if facts.get("unique_assistant_message_ids"):
        assert trace.turns == facts["unique_assistant_message_ids"]
    if facts.get("models"):
        assert trace.model in facts["models"]
    result = facts.get("result")
    if isinstance(result, dict):
        assert trace.cost_usd == result.get("total_cost_usd")
        assert trace.duration_s == result["duration_ms"] / 1000
        assert trace.result == result.get("result")
        if "usage" in result:
            assert trace.input_tokens == result["usage"]["input_tokens"]
            assert trace.output_tokens == result["usage"]["output_tokens"]
        if "num_turns" in result:
            assert trace.turns == result["num_turns"]
    if "tool_use_by_name" in facts and "tool_use_total" not in facts:
        assert trace.tool_calls == sum(facts["tool_use_by_name"].values())


def _check_codex_rollout(trace: Trace, facts: dict[str, Any]) -> None:
    assert trace.tool_calls == sum(facts["tool_calls_by_name"].values())
    last = facts.get("last_total_token_usage")
    if last is None:
        assert trace.input_tokens is None
    elif facts["records"] < 100:
        assert (trace.input_tokens, trace.output_tokens) == (
            last["input_tokens"],
            last["output_tokens"],
        )
        assert trace.cache_read_tokens == last["cached_input_tokens"]
    else:
        # The long rollout's counter restarts before its last event (1,363,408 -> 37,543
        # total tokens): the session is both segments, and the last one is EXPECTED's figure.
        assert trace.input_tokens is not None and trace.input_tokens > last["input_tokens"]
        assert trace.turns == facts["token_count_events"]
    if facts.get("models(turn_context)"):
        assert trace.model == facts["models(turn_context)"][-1]


def _check_codex_exec(trace: Trace, facts: dict[str, Any]) -> None:
    usage = facts["turn_completed_usage_sum"]
    assert (trace.input_tokens, trace.output_tokens, trace.cache_read_tokens) == (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["cached_input_tokens"],
    )
    assert trace.tool_calls == facts["items"].get("item.completed/command_execution", 0)
    assert trace.turns == facts["event_types"].get("turn.completed")
    assert trace.result  # the last agent message


def _check_swe_agent(trace: Trace, facts: dict[str, Any]) -> None:
    stats = facts.get("model_stats")
    if stats:
        assert trace.cost_usd == stats["instance_cost"]
        assert (trace.input_tokens, trace.output_tokens) == (
            stats["tokens_sent"],
            stats["tokens_received"],
        )
    assert trace.result == facts["exit_status"]
    assistant = facts["history_roles"].get("assistant", 0)
    assert trace.tool_calls == assistant
    assert trace.is_error is False


def _check_openhands(trace: Trace, facts: dict[str, Any]) -> None:
    if "per_record" in facts:
        expected = sum(r["accumulated_cost"] for r in facts["per_record"])
        assert trace.cost_usd == pytest.approx(expected)
        return
    kinds = facts["kinds"]
    tools = sum(
        n
        for k, n in kinds.items()
        if k.startswith("action:") and k not in ("action:message", "action:finish")
    )
    assert trace.tool_calls == tools
    assert trace.result  # the finish action's text


def _check_otel(trace: Trace, facts: dict[str, Any]) -> None:
    sums = facts["token_sums"]
    assert trace.input_tokens == sums["gen_ai.usage.input_tokens"]
    assert trace.output_tokens == sums["gen_ai.usage.output_tokens"]
    assert trace.tool_calls == sum(facts["tool_names"].values())
    assert trace.turns == facts["gen_ai.operation.name"]["call_llm"]
    assert trace.cost_usd is not None and trace.cost_usd > 0


CHECKS = {
    "claude-code": _check_claude,
    "codex-rollout": _check_codex_rollout,
    "codex-exec": _check_codex_exec,
    "swe-agent": _check_swe_agent,
    "openhands": _check_openhands,
    "otel-genai": _check_otel,
}


@pytest.mark.skipif(not (REALDATA / "traces").exists(), reason="../shared/realdata not present")
@pytest.mark.parametrize("entry", _real_traces(), ids=lambda e: str(e["file"]))
def test_real_traces_match_ground_truth(entry: dict[str, Any]) -> None:
    """Every real trace is recognized by content as its format, and its totals equal the
    curator's derived facts in EXPECTED.json."""
    label = str(entry["format"])
    expected = next(
        fmt for prefix, fmt in FORMAT_OF.items() if label.startswith(prefix) or prefix in label
    )
    trace = parse(REALDATA / "traces" / str(entry["file"]))
    assert isinstance(trace, Trace), trace
    assert trace.format == expected
    assert trace.bad_lines == len(entry["derived_facts"].get("unparseable_lines", []))
    assert trace.unknown_records == {}
    CHECKS[expected](trace, entry["derived_facts"])


# --- Size: any size streams; over the cap the first and last parts are kept ----------------


def _session(n: int) -> list[dict[str, Any]]:
    """``n`` Claude responses, each a tool call and its result (response ``i`` fails when
    ``i % 10 == 0``)."""
    records: list[dict[str, Any]] = [{"type": "system", "subtype": "init", "model": "claude-x"}]
    for i in range(n):
        call: dict[str, object] = {
            "type": "tool_use",
            "id": f"t{i}",
            "name": "Bash",
            "input": {"command": f"s{i}"},
        }
        records.append(assistant(f"m{i}", [call], 1))
        result: dict[str, object] = {"type": "tool_result", "tool_use_id": f"t{i}"}
        result.update(content=f"out {i}", is_error=i % 10 == 0)
        records.append({"type": "user", "message": {"role": "user", "content": [result]}})
    return records


def test_a_trace_over_the_cap_keeps_its_first_and_last_parts_with_a_note(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "long.jsonl", _session(1_000))
    size = path.stat().st_size
    whole = parse_trace(path, source="t", max_bytes=size)
    part = parse_trace(path, source="t", max_bytes=size // 4)
    assert isinstance(whole, Trace) and isinstance(part, Trace)
    assert whole.tool_calls == 1_000 and whole.notes == ()
    assert 200 <= part.tool_calls <= 300  # a quarter of the file: its first and last eighths
    assert f"trace is {size} bytes, over the {size // 4}-byte cap" in part.notes[0]
    assert part.steps[0].tool_input == '{"command": "s0"}'  # the opening part
    assert part.steps[-1].text == "out 999"  # and the closing part
    assert part.model == "claude-x" and part.bad_lines == 0  # cut at line boundaries


def test_the_trace_cap_is_a_setting(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "long.jsonl", _session(200))
    limits = Limits(max_trace_bytes=path.stat().st_size // 2)
    trace = parse_trace_file(path, source="t", limits=limits)
    assert isinstance(trace, Trace) and trace.notes and trace.tool_calls < 200
    assert Limits().max_trace_bytes == 2 * 1024**3


def test_a_json_array_over_the_cap_keeps_its_first_elements(tmp_path: Path) -> None:
    path = tmp_path / "claude-execution-output.json"
    path.write_text(json.dumps(_session(500), indent=1))
    trace = parse_trace(path, source="t", max_bytes=path.stat().st_size // 3)
    assert isinstance(trace, Trace) and trace.format == "claude-code"
    assert 100 <= trace.tool_calls <= 250 and "array elements" in trace.notes[0]
    whole = parse(path)
    assert isinstance(whole, Trace) and whole.tool_calls == 500 and whole.notes == ()


def test_a_json_array_cut_short_keeps_the_elements_before_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "claude-execution-output.json"
    text = json.dumps(_session(50))
    path.write_text(text[: len(text) // 2])
    trace = parse(path)
    assert isinstance(trace, Trace) and 15 <= trace.tool_calls <= 35
    assert trace.bad_lines == 1 and "not JSON" in trace.notes[-1]


# --- Bad input: a reason and a position --------------------------------------------------


def test_unusable_lines_are_counted_with_the_first_position(tmp_path: Path) -> None:
    records = _session(5)
    path = tmp_path / "session.jsonl"
    lines = [json.dumps(r) for r in records]
    lines.insert(3, "INFO: some log noise")
    lines.insert(6, '{"type": "assistant", "mess')
    path.write_bytes("\n".join(lines).encode() + b'\n{"type": "user", "x": "\xff\xfe"}\n')
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.tool_calls == 5
    assert trace.bad_lines == 2
    assert trace.notes == ("2 unusable line(s); the first at line 4: not JSON",)


def test_a_record_of_an_unexpected_shape_is_skipped_with_its_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "spans.jsonl",
        [
            {"resourceSpans": [{"scopeSpans": []}], "gen_ai.x": 1},
            {"resourceSpans": ["not an object"]},
        ],
    )
    skipped = parse(path)
    assert isinstance(skipped, Skipped)
    assert skipped.reason.startswith("unreadable otel-genai trace at line 2: AttributeError")


def test_a_whole_document_over_its_cap_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.traj"
    path.write_text(json.dumps({"history": [], "info": {"exit_status": "submitted"}}, indent=2))
    monkeypatch.setattr(_reader, "MAX_DOCUMENT_BYTES", 10)
    skipped = parse(path)
    assert isinstance(skipped, Skipped) and "over the 10-byte cap for documents" in skipped.reason


# --- Failures reported as text are tool errors -------------------------------------------

UNIFIED = "Chunk ID: 9f2c\nWall time: 0.5012 seconds\nProcess exited with code {}\n"
SCRIPT = "Script completed\nWall time 0.1 seconds\nOutput:\n"


def _codex_outputs(tmp_path: Path, outputs: list[Any]) -> Trace:
    """A rollout where every output in ``outputs`` answers one ``exec_command`` call."""
    records: list[Any] = [{"type": "session_meta", "payload": {"id": "s"}}]
    for n, output in enumerate(outputs):
        call = {"type": "function_call", "name": "exec_command", "arguments": "{}"}
        records.append({"type": "response_item", "payload": {**call, "call_id": f"c{n}"}})
        answer = {"type": "function_call_output", "call_id": f"c{n}", "output": output}
        records.append({"type": "response_item", "payload": answer})
    trace = parse(write_lines(tmp_path / "rollout.jsonl", records))
    assert isinstance(trace, Trace) and trace.format == "codex-rollout"
    return trace


def items(*texts: str) -> list[dict[str, str]]:
    return [{"type": "input_text", "text": text} for text in texts]


@pytest.mark.parametrize(
    ("output", "failed"),
    [
        (UNIFIED.format(1) + "Original token count: 3\nOutput:\nboom", True),
        (UNIFIED.format(0) + "Output:\nExit code: 1 (the command's own text)", False),
        ("Exit code: 2\nWall time: 1.2 seconds\nOutput:\nFAILED", True),
        (items(UNIFIED.format(127) + "Output:\n", "sh: nope: not found"), True),  # 2026 items
        (items(UNIFIED.format(0) + "Output:\n", "ok"), False),
        (items(SCRIPT, "line 1\n", "exit_code=1"), True),  # code mode's exec
        (items(SCRIPT, "42\n", "0"), False),
        (items(SCRIPT, "42"), False),  # two blocks: the second is the output, not a code
        (
            "failed in sandbox LinuxSeccomp with execution error: sandbox denied exec error, "
            "exit code: 1, stdout: , stderr: Operation not permitted",
            True,
        ),
        ("exec command rejected by user", True),
        ("patch rejected by user", True),
        ("Plan updated", False),
    ],
)
def test_codex_failures_stated_in_words_are_tool_errors(
    tmp_path: Path, output: Any, failed: bool
) -> None:
    trace = _codex_outputs(tmp_path, [output])
    assert (trace.tool_calls, trace.tool_errors) == (1, int(failed))


def test_codex_exec_declined_command_is_a_tool_error(tmp_path: Path) -> None:
    command = {
        "id": "i1",
        "type": "command_execution",
        "command": "rm -rf build",
        "aggregated_output": "exec command rejected by user",
        "status": "declined",
    }
    path = write_lines(
        tmp_path / "exec.jsonl",
        [{"type": "thread.started", "thread_id": "t"}, {"type": "item.completed", "item": command}],
    )
    trace = parse(path)
    assert isinstance(trace, Trace) and (trace.tool_calls, trace.tool_errors) == (1, 1)


def test_claude_permission_denials_are_tool_errors_counted_once(tmp_path: Path) -> None:
    def use(n: int) -> dict[str, object]:
        return {"type": "tool_use", "id": f"t{n}", "name": "Write", "input": {"file_path": "a"}}

    def result(n: int, text: str, **flags: object) -> dict[str, Any]:
        block = {"type": "tool_result", "tool_use_id": f"t{n}", "content": text, **flags}
        return {"type": "user", "message": {"role": "user", "content": [block]}}

    denied = "Claude requested permissions to write to a, but you haven't granted it yet."
    records = [
        assistant("m1", [use(1)], 1),
        result(1, denied),  # no is_error flag: the text says it
        assistant("m2", [use(2)], 1),
        result(2, "<tool_use_error>File has not been read yet.</tool_use_error>"),
        assistant("m3", [use(3)], 1),
        result(3, "wrote a"),
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "permission_denials": [
                {"tool_name": "Write", "tool_use_id": "t1", "tool_input": {}},  # counted above
                {"tool_name": "Bash", "tool_use_id": "t9", "tool_input": {"command": "rm"}},
            ],
        },
    ]
    trace = parse(write_lines(tmp_path / "stream.jsonl", records))
    assert isinstance(trace, Trace) and (trace.tool_calls, trace.tool_errors) == (3, 3)


def test_openhands_rejected_edits_and_exit_code_banners_are_tool_errors(tmp_path: Path) -> None:
    def observation(n: int, kind: str, content: str) -> dict[str, Any]:
        return {"id": n, "source": "agent", "observation": kind, "content": content}

    events = [
        {"id": 0, "source": "user", "action": "message", "args": {"content": "fix it"}},
        observation(
            1,
            "run_ipython",
            "[Your proposed edit has introduced new syntax error(s). "
            "Please understand the errors and retry your edit command.]\nERRORS:\n...",
        ),
        observation(2, "run_ipython", "[No exact match found in /w/a.py for\n```\nx\n```\n]"),
        observation(3, "edit", "ERROR:\nNo replacement was performed, old_str `x` did not appear"),
        observation(4, "run", "1 failed\n[The command completed with exit code 1.]"),
        observation(5, "run", "ok\n[Command finished with exit code 0]"),
        observation(6, "user_rejected", "Action has been rejected by the user!"),
        observation(7, "edit", "The file /w/a.py has been edited; it mentions ERROR: inline"),
    ]
    path = tmp_path / "traj.json"
    path.write_text(json.dumps(events))
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.tool_errors == 5


#: Tool errors in the real traces, counted by hand from the files (EXPECTED.json has no such
#: figure except Claude's ``tool_result_is_error_true``): the Codex rollout's 12 outputs that
#: read ``failed in sandbox MacosSeatbelt with execution error: sandbox denied exec error`` (its
#: 45 JSON-wrapped outputs all have exit_code 0), and the OpenHands resolver output's 8 lint
#: banners and 3 ``[No exact match found`` banners. Every other real trace has none.
REAL_TOOL_ERRORS = {
    "codex-rollout/agentcmd/rollout-2025-09-25T08-02-05-0199812e-64f0-7f73-91fc-095dda01c36e.jsonl": 12,
    "openhands/resolver/output.jsonl": 11,
    "claude-code-transcript/ccv/1af7fc5e-8455-4414-9ccd-011d40f70b2a.jsonl": 1,
}


@pytest.mark.skipif(not (REALDATA / "traces").exists(), reason="../shared/realdata not present")
@pytest.mark.parametrize("entry", _real_traces(), ids=lambda e: str(e["file"]))
def test_real_traces_count_failures_stated_in_words(entry: dict[str, Any]) -> None:
    trace = parse(REALDATA / "traces" / str(entry["file"]))
    assert isinstance(trace, Trace)
    assert trace.tool_errors == REAL_TOOL_ERRORS.get(str(entry["file"]), 0)


def test_inspect_counts_failures_stated_in_words_and_shows_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    denied = (
        "failed in sandbox Seatbelt with execution error: sandbox denied exec error, exit code: 1"
    )
    call = {"type": "function_call", "name": "shell", "arguments": "{}", "call_id": "c"}
    answer = {"type": "function_call_output", "call_id": "c", "output": denied}
    path = write_lines(
        tmp_path / "rollout.jsonl",
        [{"type": "response_item", "payload": p} for p in (call, answer)],
        tail="{truncated",
    )
    assert main(["inspect", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["tool_calls"], shown["tool_errors"]) == (1, 1)
    assert shown["notes"] == ["1 unusable line(s); the first at line 3: not JSON"]


def test_a_deeply_nested_line_costs_that_line_only(tmp_path: Path) -> None:
    records = [json.dumps(r) for r in _session(3)]
    records.insert(2, '{"a": ' * 100_000 + "1" + "}" * 100_000)
    path = tmp_path / "session.jsonl"
    path.write_text("\n".join(records) + "\n")
    trace = parse(path)
    assert isinstance(trace, Trace) and trace.tool_calls == 3 and trace.bad_lines == 1
    array = tmp_path / "deep.json"
    array.write_text(
        "[" + json.dumps(_session(2))[1:-1] + ", " + "[" * 100_000 + "]" * 100_000 + "]"
    )
    trace = parse(array)
    assert isinstance(trace, Trace) and trace.tool_calls == 2
    assert "nested too deeply" in trace.notes[-1]


def test_a_pretty_printed_document_over_the_cap_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"type": "result", "subtype": "success", "num_turns": 4}, indent=2))
    trace = parse_trace(path, source="t", max_bytes=20)
    assert isinstance(trace, Trace) and trace.turns == 4 and trace.unknown_records == {}
