"""A small runner for composite actions, following the GitHub runner's rules for what
prompt-trainer's ``action.yml`` uses.

- Inputs: the ``with:`` values over the declared defaults; ``${{ inputs.x }}``,
  ``${{ github.* }}``, ``${{ runner.* }}`` and ``${{ steps.<id>.outputs.<name> }}`` expressions,
  with ``||``, are evaluated before a step runs (in ``env:`` and ``with:``, never inside ``run:``
  text, which this action does not use).
- ``run:`` steps run as ``bash --noprofile --norc -eo pipefail {file}`` (the runner's ``shell:
  bash``), in the workspace, with the job environment, the step's ``env:``, and fresh
  ``GITHUB_OUTPUT``/``GITHUB_ENV`` files; ``GITHUB_STEP_SUMMARY`` is shared. ``name=value`` and
  ``name<<DELIM`` output lines become ``steps.<id>.outputs``; ``GITHUB_ENV`` lines join the
  environment of later steps. A failing step stops the action.
- ``uses:`` steps: ``actions/setup-python`` puts the interpreter behind the tests on ``PATH`` as
  ``python``; ``actions/cache`` (and its ``restore``/``save``) and ``actions/upload-artifact``
  are recorded (no cache or artifact service here). Any other is an error.
- ``if:``: ``always()``, ``success()``, ``failure()`` and ``<expression> != ''`` / ``== ''``
  joined by ``&&``; without ``always()`` or ``failure()`` a step runs only while every step
  before it succeeded, as on the runner.
- The install step downloads from PyPI; tests replace it (``replace``) by a launcher for the
  package under test, unless ``PROMPT_TRAINER_TEST_INSTALL=1``.
- The action's ``outputs:`` are evaluated at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionRun:
    outputs: dict[str, str]
    step_outputs: dict[str, dict[str, str]]
    returncode: int
    log: str
    cached_paths: list[str] = field(default_factory=list)
    saved_paths: list[str] = field(default_factory=list)
    uploaded: dict[str, str] = field(default_factory=dict)  # artifact name -> path


def _lookup(path: str, context: dict[str, Any]) -> str:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return ""
        value = value[part]
    return "" if value is None else str(value)


def evaluate(text: str, context: dict[str, Any]) -> str:
    """Replace every ``${{ a || b || 'literal' }}``."""

    def one(match: re.Match[str]) -> str:
        for raw in match.group(1).split("||"):
            option = raw.strip()
            if option.startswith("'") and option.endswith("'"):
                value = option[1:-1]
            else:
                value = _lookup(option, context)
            if value:
                return value
        return ""

    return EXPRESSION.sub(one, text)


def condition(text: str, context: dict[str, Any], *, failed: bool) -> bool:
    """A step's ``if:`` (the forms this action uses; anything else is an error)."""
    expression = EXPRESSION.sub(lambda m: m.group(1), text.strip())
    status = "success()"
    verdict = True
    for raw in expression.split("&&"):
        term = raw.strip()
        if term in ("always()", "success()", "failure()"):
            status = term
        elif (match := re.fullmatch(r"([\w.-]+)\s*(!=|==)\s*''", term)) is not None:
            empty = _lookup(match.group(1), context) == ""
            verdict = verdict and (empty if match.group(2) == "==" else not empty)
        else:
            raise AssertionError(f"no stand-in for the condition {term!r}")
    runs = {"always()": True, "success()": not failed, "failure()": failed}[status]
    return runs and verdict


def _read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    n = 0
    while n < len(lines):
        line = lines[n]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, n + 1)
            outputs[name] = "\n".join(lines[n + 1 : end])
            n = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        n += 1
    return outputs


def run_action(
    action_dir: Path,
    *,
    workspace: Path,
    with_inputs: dict[str, str],
    env: dict[str, str],
    github: dict[str, str],
    temp: Path,
    replace: dict[str, str] | None = None,
) -> ActionRun:
    """Run ``action_dir/action.yml`` as a ``uses:`` step of a job in ``workspace``."""
    spec = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    assert spec["runs"]["using"] == "composite"
    inputs = {name: str(meta.get("default", "")) for name, meta in spec["inputs"].items()}
    context: dict[str, Any] = {
        "github": {**github, "action_path": str(action_dir)},
        "runner": {"os": "Linux", "temp": str(temp)},
        "steps": {},
    }
    inputs = {k: evaluate(v, context) for k, v in inputs.items()}  # e.g. ${{ github.token }}
    inputs.update(with_inputs)
    context["inputs"] = inputs
    job_env = {
        **env,
        "RUNNER_TEMP": str(temp),
        "GITHUB_ACTION_PATH": str(action_dir),
        "GITHUB_WORKSPACE": str(workspace),
    }
    summary = temp / "step-summary.md"
    job_env["GITHUB_STEP_SUMMARY"] = str(summary)
    result = ActionRun(outputs={}, step_outputs={}, returncode=0, log="")
    for n, step in enumerate(spec["runs"]["steps"]):
        if not condition(str(step.get("if", "success()")), context, failed=result.returncode != 0):
            continue
        if "uses" in step:
            name = step["uses"].split("@")[0]
            with_ = {k: evaluate(str(v), context) for k, v in step.get("with", {}).items()}
            if name in ("actions/cache", "actions/cache/restore"):
                result.cached_paths += with_["path"].split()
                continue
            if name == "actions/cache/save":
                result.saved_paths += with_["path"].split()
                continue
            if name == "actions/upload-artifact":
                result.uploaded[with_["name"]] = with_["path"]
                continue
            assert name == "actions/setup-python", f"no stand-in for {name}"
            # Like setup-python: a `python` on PATH (the interpreter behind the tests' venv).
            tools = temp / "setup-python"
            tools.mkdir(exist_ok=True)
            link = tools / "python"
            if not link.exists():
                link.symlink_to(getattr(sys, "_base_executable", sys.executable))
            job_env["PATH"] = f"{tools}:{job_env.get('PATH', '')}"
            continue
        script = (replace or {}).get(step.get("name", ""), step["run"])
        step_env = {k: evaluate(str(v), context) for k, v in step.get("env", {}).items()}
        output_file, env_file = temp / f"output-{n}", temp / f"env-{n}"
        output_file.write_text(""), env_file.write_text("")
        script_file = temp / f"step-{n}.sh"
        script_file.write_text(script)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=workspace,
            env={
                **job_env,
                **step_env,
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_ENV": str(env_file),
            },
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        result.log += done.stdout + done.stderr
        if "id" in step:
            context["steps"][step["id"]] = {"outputs": _read_outputs(output_file)}
            result.step_outputs[step["id"]] = context["steps"][step["id"]]["outputs"]
        job_env.update(_read_outputs(env_file))
        if done.returncode != 0 and result.returncode == 0:
            result.returncode = done.returncode
    if result.returncode != 0:
        return result
    result.outputs = {
        name: evaluate(str(meta["value"]), context) for name, meta in spec["outputs"].items()
    }
    return result


def launcher(temp: Path) -> str:
    """A stand-in for the install step: ``$RUNNER_TEMP/prompt-trainer/bin/prompt-trainer``
    running the package under test with the interpreter running the tests."""
    return (
        'mkdir -p "$RUNNER_TEMP/prompt-trainer/bin"\n'
        "cat > \"$RUNNER_TEMP/prompt-trainer/bin/prompt-trainer\" <<'EOF'\n"
        f'#!/bin/sh\nexec "{sys.executable}" -m prompt_trainer "$@"\nEOF\n'
        'chmod +x "$RUNNER_TEMP/prompt-trainer/bin/prompt-trainer"\n'
    )


INSTALL_STEP = "Install prompt-trainer from the hash-pinned lock"


def install_replacement(temp: Path) -> dict[str, str]:
    if os.environ.get("PROMPT_TRAINER_TEST_INSTALL") == "1":
        return {}
    return {INSTALL_STEP: launcher(temp)}
