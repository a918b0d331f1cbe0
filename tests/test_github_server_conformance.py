"""The local GitHub server answers in the shapes of GitHub's own API description.

Runs the end-to-end scenario, then validates every JSON response the server gave against the
response schema of the matching operation in ``../shared/realdata/github-api/openapi/``
(OpenAPI 3.0; ``nullable`` is mapped to JSON Schema's ``null`` type). Skipped without
``../shared``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from prompt_trainer.cli import main
from tests.conftest import REALDATA
from tests.scenarios import other_reply
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM

OPENAPI = REALDATA / "github-api" / "openapi" / "github-rest-operations.deref.json"


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes a ``null`` alternative."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: to_json_schema(v)
        for k, v in node.items()
        if k not in ("nullable", "example", "examples")
    }
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def operations() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    spec = json.loads(OPENAPI.read_text())["operations"]
    found = []
    for op_id, op in spec.items():
        # {ref} and {path} may hold slashes (heads/main, .claude/agents/x.md).
        pattern = re.sub(r"\{(ref|path)\}", ".+", op["path"])
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", pattern)
        found.append((op_id, re.compile(f"^{pattern}$"), op))
    return found


def response_schema(op: dict[str, Any], status: int) -> Any:
    response = op["operation"]["responses"].get(str(status))
    content = (response or {}).get("content", {}).get("application/json")
    return to_json_schema(content["schema"]) if content else None


def validator(schema: Any) -> Any:
    """The validator ``jsonschema.validate`` would use, built once per operation and status.
    GitHub's schemas are not checked against the metaschema: that took most of this test."""
    return None if schema is None else jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.skipif(not OPENAPI.exists(), reason="../shared/realdata not present")
def test_every_response_matches_githubs_schema(
    github: FakeGitHub, llm: FakeLLM, ready: Path
) -> None:
    env = {
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.api_url,
        "GITHUB_REPOSITORY": github.full_name,
        "PROMPT_TRAINER_API_BASE": llm.api_base,
    }
    assert main(["run", "--pr", "7"], env=env) == 0
    # A different candidate on the next run updates the PR (pulls/update, git/update-ref).
    shutil.rmtree(ready / ".prompt-trainer" / "cache")
    llm.script = [other_reply]
    assert main(["run", "--pr", "7"], env=env) == 0

    checked: set[str] = set()
    ops = operations()
    validators: dict[tuple[str, int], Any] = {}
    for request, status, payload in github.exchanges:
        matches = [
            (i, op)
            for i, rx, op in ops
            if op["method"] == request.method and rx.match(request.path)
        ]
        if not matches:  # e.g. GET git/commits/{sha} is not in the extract
            continue
        op_id, op = matches[0]
        if (op_id, status) not in validators:
            validators[op_id, status] = validator(response_schema(op, status))
        if validators[op_id, status] is None or payload is None:
            continue
        validators[op_id, status].validate(payload)
        checked.add(op_id)
    assert {
        "repos/get",
        "pulls/get",
        "pulls/list",
        "pulls/create",
        "pulls/update",
        "pulls/list-reviews",
        "pulls/list-review-comments",
        "issues/list-comments",
        "issues/add-labels",
        "actions/list-workflow-runs-for-repo",
        "actions/list-workflow-run-artifacts",
        "repos/get-content",
        "git/get-ref",
        "git/create-blob",
        "git/create-tree",
        "git/create-commit",
        "git/create-ref",
        "git/update-ref",
    } <= checked
