"""OpenTelemetry GenAI spans: OTLP/JSON (``{"resourceSpans": [...]}``, one document or one per
line as the file exporter writes them) and flat span lists (``{"spans": [...]}``, a JSON array,
or JSONL of spans, as SDK span dumps write them), read by the GenAI semantic conventions.

``gen_ai.operation.name`` decides what a span is: model calls (``chat``, ``text_completion``,
``generate_content``, and ``call_llm`` as some SDKs write it) are turns and carry
``gen_ai.usage.input_tokens``/``output_tokens`` (legacy ``prompt_tokens``/``completion_tokens``
too); ``execute_tool`` spans are tool calls, failed when their status is ERROR or they carry
``error.type``. Attribute values may be typed OTLP values or strings. Spans without a GenAI
operation are counted as unknown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prompt_trainer.collect.traces._builder import Head, TraceBuilder, as_float, as_int, obj
from prompt_trainer.collect.traces._reader import json_records
from prompt_trainer.models import Trace

NAME = "otel-genai"
MODEL_CALLS = frozenset({"chat", "text_completion", "generate_content", "call_llm"})
QUIET_OPERATIONS = frozenset({"invoke_agent", "create_agent", "embeddings"})
#: The attributes this module reads; the others are dropped as each span is read.
READ_ATTRIBUTES = frozenset(
    {
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.input_cost",
        "gen_ai.usage.output_cost",
        "gen_ai.usage.cost",
        "gen_ai.output",
        "gen_ai.output.messages",
        "gen_ai.tool.name",
        "gen_ai.tool.args",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.conversation.id",
        "error.type",
    }
)
#: Longest attribute text kept: more than any step or tool-input excerpt uses (texts are cut
#: again, and redacted, when the ``Trace`` is built).
CLIP_CHARS = 16_384
SPANS_KEY = re.compile(r'"(resourceSpans|scopeSpans)"|"spans"\s*:\s*\[')


def sniff(head: Head) -> bool:
    first = head.first
    if first is not None and ("resourceSpans" in first or isinstance(first.get("spans"), list)):
        return True
    if first is not None and ("attributes" in first and ("context" in first or "spanId" in first)):
        return '"gen_ai.' in head.text
    return first is None and bool(SPANS_KEY.search(head.text[:4096])) and '"gen_ai.' in head.text


def parse(path: Path, *, source: str, builder: TraceBuilder) -> Trace:
    spans: list[dict[str, Any]] = []
    final: Any = None
    for record in json_records(path, builder):
        if "resourceSpans" in record:
            spans.extend(_otlp_spans(record["resourceSpans"]))
        elif isinstance(record.get("spans"), list):
            spans.extend(_flat(s) for s in record["spans"] if isinstance(s, dict))
            final = record.get("final_output", final)
        elif "attributes" in record:
            spans.append(_flat(record))
        else:
            builder.unknown["not a span"] += 1
    _fold(builder, sorted(spans, key=lambda s: s["start"] or 0))
    if final is not None and builder.result is None:
        builder.result = final if isinstance(final, str) else str(final)
    return builder.build(source=source)


def _fold(builder: TraceBuilder, spans: list[dict[str, Any]]) -> None:
    turns = 0
    cost: float | None = None
    starts = [s["start"] for s in spans if s["start"]]
    ends = [s["end"] for s in spans if s["end"]]
    for span in spans:
        attrs = span["attributes"]
        operation = attrs.get("gen_ai.operation.name")
        failed = span["error"] or "error.type" in attrs
        if operation in MODEL_CALLS:
            turns += 1
            builder.model = (
                _str(attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model"))
                or builder.model
            )
            builder.add_tokens(
                input=as_int(
                    attrs.get("gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens"))
                ),
                output=as_int(
                    attrs.get(
                        "gen_ai.usage.output_tokens", attrs.get("gen_ai.usage.completion_tokens")
                    )
                ),
                cache_read=as_int(attrs.get("gen_ai.usage.cache_read_input_tokens")),
            )
            for key in ("gen_ai.usage.input_cost", "gen_ai.usage.output_cost", "gen_ai.usage.cost"):
                value = as_float(attrs.get(key))
                if value is not None:
                    cost = (cost or 0.0) + value
            output = attrs.get("gen_ai.output") or attrs.get("gen_ai.output.messages") or ""
            builder.step("assistant", _str(output) or "", is_error=failed)
        elif operation == "execute_tool":
            name = _str(attrs.get("gen_ai.tool.name")) or span["name"]
            builder.tool_call(
                name, attrs.get("gen_ai.tool.args") or attrs.get("gen_ai.tool.call.arguments")
            )
            output = attrs.get("gen_ai.output") or attrs.get("gen_ai.tool.call.result") or ""
            builder.tool_result(name, _str(output) or "", is_error=failed)
        elif operation in QUIET_OPERATIONS:
            builder.session_id = builder.session_id or _str(attrs.get("gen_ai.conversation.id"))
            builder.model = builder.model or _str(attrs.get("gen_ai.request.model"))
            if failed:
                builder.is_error = True
        else:
            builder.unknown[f"span without a GenAI operation ({span['name']})"] += 1
    builder.turns = turns or None
    builder.cost_usd = cost
    if starts and ends:
        builder.duration_s = round((max(ends) - min(starts)) / 1e9, 3)


def _otlp_spans(resource_spans: Any) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    for resource in resource_spans if isinstance(resource_spans, list) else []:
        for scope in (
            resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans") or []
        ):
            for span in scope.get("spans") or []:
                if isinstance(span, dict):
                    spans.append(_flat(span))
    return spans


def _flat(span: dict[str, Any]) -> dict[str, Any]:
    """One span, whatever the dump: name, the attributes read here (long texts clipped, so the
    spans held until they are sorted cost little), start/end in ns, failed."""
    attributes = span.get("attributes")
    if isinstance(attributes, list):  # OTLP: [{"key", "value": {"stringValue": ...}}]
        pairs = [(a.get("key"), a.get("value")) for a in attributes if isinstance(a, dict)]
        attrs = {key: _clip(_value(value)) for key, value in pairs if key in READ_ATTRIBUTES}
    elif isinstance(attributes, dict):
        attrs = {key: _clip(value) for key, value in attributes.items() if key in READ_ATTRIBUTES}
    else:
        attrs = {}
    status = obj(span.get("status"))
    code = str(status.get("code", status.get("status_code", ""))).lower()
    return {
        "name": str(span.get("name") or ""),
        "attributes": attrs,
        "start": as_int(span.get("startTimeUnixNano", span.get("start_time"))),
        "end": as_int(span.get("endTimeUnixNano", span.get("end_time"))),
        "error": code in ("2", "error", "status_code_error"),
    }


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > CLIP_CHARS:
        return value[:CLIP_CHARS]
    return value


def _value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in value:
            return value[key]
    array = value.get("arrayValue")
    if isinstance(array, dict):
        return [_value(v) for v in array.get("values") or []]
    return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
