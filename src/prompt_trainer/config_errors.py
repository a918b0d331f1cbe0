"""A pydantic ``ValidationError`` of the configuration -> sentences naming the key, value and fix.

``settings.parse_config`` raises ``ConfigError(describe_validation_error(...))``;
``collect --local`` uses ``key_path`` and ``explain`` for the same wording on the records it
validates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

#: The fix of an invalid configuration: where each key is described.
CONFIG_FIX = (
    "correct the keys listed above: the README's 'Configuration' section describes each key, "
    "and `prompt-trainer schema` prints the JSON Schema"
)


def describe_validation_error(exc: ValidationError, *, source: str) -> str:
    """One line per problem: the key path, the value found, and what to write instead."""
    lines = [f"{source} has {exc.error_count()} problem(s):"]
    for error in exc.errors():
        key = key_path(error["loc"])
        lines.append(f"  - {key}: {explain(error)}")
    return "\n".join(lines)


def key_path(loc: tuple[int | str, ...]) -> str:
    """``('targets', 0, 'main')`` -> ``targets[0].main``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def explain(error: Mapping[str, Any]) -> str:
    """A human sentence for one pydantic error, with the offending value and the fix."""
    kind, value, msg = error["type"], error.get("input"), error["msg"]
    if kind == "extra_forbidden":
        return (
            "unknown key; remove it or check its spelling (`prompt-trainer schema` lists every key)"
        )
    if kind == "missing":
        return "required key is missing; add it"
    if kind == "value_error":  # our own validators' sentences, without pydantic's prefix
        msg = msg.removeprefix("Value error, ")
    shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
    return f"{msg} (got {shown})"
