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
- ``if:`` (steps here, jobs in ``job_starts``): GitHub's expression language for what the
  workflows use: literals, property access (``a.b``, ``a['b']``; a missing one is ``null``),
  ``!``, ``==``/``!=`` (strings case-insensitively, other types compared as numbers), ``&&`` and
  ``||`` (returning an operand, as GitHub does), parentheses, ``startsWith``, ``endsWith``,
  ``contains`` (case-insensitive) and ``always()``/``success()``/``failure()``. Without a status
  function a step runs only while every step before it succeeded, as on the runner.
- ``job_starts`` says whether an event (name and real payload) starts a workflow's job: the
  event and its ``types:`` must be among the triggers and the job's ``if:`` must hold.
- The install step downloads from PyPI; tests replace it (``replace``) by a launcher for the
  package under test, unless ``PROMPT_TRAINER_TEST_INSTALL=1``.
- The action's ``outputs:`` are evaluated at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
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


def evaluate(text: str, context: dict[str, Any]) -> str:
    """Replace every ``${{ expression }}`` by its value as text (GitHub's expression language,
    ``_Parser``: a missing property is ``null``, which reads as the empty string)."""
    status = {"always": True, "success": True, "failure": False, "cancelled": False}
    return EXPRESSION.sub(
        lambda match: _text(_Parser(match.group(1), context, status).parse()), text
    )


TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[!<>()\[\],.])|(?P<name>[A-Za-z_][\w-]*))"
)
STATUS = ("always", "success", "failure", "cancelled")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise AssertionError(f"cannot read the expression at {text[position:]!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def _number(value: Any) -> float:
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip() or 0)
        except ValueError:
            return float("nan")
    return float("nan")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and value != 0  # NaN is falsy
    return value not in (None, False, 0, "")


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right) and isinstance(left, dict | list):
        return left is right
    return _number(left) == _number(right)


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(_equal(item, needle) for item in haystack)
    return _text(needle).casefold() in _text(haystack).casefold()


def _format(template: Any, *args: Any) -> str:
    """``format('{0}-{1}', a, b)``: ``{n}`` replaced by the text of argument n; ``{{``/``}}``
    are literal braces."""
    text = _text(template).replace("{{", "\0").replace("}}", "\1")
    for n, arg in enumerate(args):
        text = text.replace(f"{{{n}}}", _text(arg))
    return text.replace("\0", "{").replace("\1", "}")


FUNCTIONS: dict[str, Any] = {
    "startswith": lambda a, b: _text(a).casefold().startswith(_text(b).casefold()),
    "endswith": lambda a, b: _text(a).casefold().endswith(_text(b).casefold()),
    "contains": _contains,
    "format": _format,
    "fromjson": lambda a: json.loads(_text(a)),
}


class _Parser:
    """Recursive descent over GitHub's precedence: ``||`` < ``&&`` < ``==``/``!=`` < ``!``."""

    def __init__(self, text: str, context: dict[str, Any], status: dict[str, bool]) -> None:
        self.tokens = _tokens(text)
        self.n = 0
        self.context = context
        self.status = status

    def peek(self) -> str:
        return self.tokens[self.n][1] if self.n < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.n]
        if expected is not None and token[1] != expected:
            raise AssertionError(f"expected {expected!r}, found {token[1]!r}")
        self.n += 1
        return token

    def parse(self) -> Any:
        value = self.disjunction()
        if self.n != len(self.tokens):
            raise AssertionError(f"unexpected {self.peek()!r}")
        return value

    def disjunction(self) -> Any:
        value = self.conjunction()
        while self.peek() == "||":
            self.take()
            right = self.conjunction()
            value = value if _truthy(value) else right
        return value

    def conjunction(self) -> Any:
        value = self.comparison()
        while self.peek() == "&&":
            self.take()
            right = self.comparison()
            value = right if _truthy(value) else value
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while self.peek() in ("==", "!="):
            op = self.take()[1]
            equal = _equal(value, self.unary())
            value = equal if op == "==" else not equal
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not _truthy(self.unary())
        return self.postfix(self.primary())

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if text == "(":
            value = self.disjunction()
            self.take(")")
            return value
        if kind != "name":
            raise AssertionError(f"unexpected {text!r}")
        if self.peek() == "(":
            return self.call(text.lower())
        literals = {"true": True, "false": False, "null": None}
        return literals[text] if text in literals else self.context.get(text)

    def call(self, name: str) -> Any:
        self.take("(")
        args = []
        while self.peek() != ")":
            args.append(self.disjunction())
            if self.peek() == ",":
                self.take()
        self.take(")")
        if name in STATUS:
            return self.status[name]
        if name not in FUNCTIONS:
            raise AssertionError(f"no stand-in for the function {name}()")
        return FUNCTIONS[name](*args)

    def postfix(self, value: Any) -> Any:
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                key: Any = self.take()[1]
            else:
                key = self.disjunction()
                self.take("]")
            value = value.get(_text(key)) if isinstance(value, dict) else None
        return value


def expression(text: str, context: dict[str, Any], *, failed: bool = False) -> Any:
    """The value of an ``if:`` (with or without ``${{ }}``); without a status function it is
    ``success() && (...)``, as on the runner."""
    body = EXPRESSION.sub(lambda m: m.group(1), text.strip())
    status = {"always": True, "success": not failed, "failure": failed, "cancelled": False}
    names = {t.lower() for kind, t in _tokens(body) if kind == "name"}
    if not names & set(STATUS):
        body = f"success() && ({body})"
    return _Parser(body, context, status).parse()


def condition(text: str, context: dict[str, Any], *, failed: bool) -> bool:
    """A step's ``if:``."""
    return _truthy(expression(text, context, failed=failed))


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def job_starts(
    workflow: dict[Any, Any],
    job: str,
    *,
    event_name: str,
    payload: dict[str, Any],
    repository: str,
) -> bool:
    """Whether the event starts ``job``: a trigger of the workflow (with the payload's
    ``action`` among its ``types:``) and the job's ``if:`` true in the event's ``github``
    context (``actor`` is the sender, as for the events here)."""
    triggers = _triggers(workflow)
    if event_name not in triggers:
        return False
    settings = triggers[event_name]  # `schedule:` holds a list of crons
    types = settings.get("types") if isinstance(settings, dict) else None
    if types is not None and payload.get("action") not in types:
        return False
    github = {
        "event_name": event_name,
        "event": payload,
        "repository": repository,
        "actor": (payload.get("sender") or {}).get("login", ""),
    }
    spec = workflow["jobs"][job]
    return "if" not in spec or condition(str(spec["if"]), {"github": github}, failed=False)


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
    github: dict[str, Any],
    temp: Path,
    replace: dict[str, str] | None = None,
    artifacts: Path | None = None,
) -> ActionRun:
    """Run ``action_dir/action.yml`` as a ``uses:`` step of a job in ``workspace``;
    ``artifacts`` is the run's artifact store (one folder per artifact name), shared by its
    jobs (None: uploads are only recorded)."""
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
            if name in ("actions/upload-artifact", "actions/download-artifact"):
                problem = _artifact(name, with_, artifacts, result)
                if problem and not step.get("continue-on-error"):
                    result.log += f"{problem}\n"
                    result.returncode = result.returncode or 1
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
        if done.returncode != 0 and result.returncode == 0 and not step.get("continue-on-error"):
            result.returncode = done.returncode
    if result.returncode != 0:
        return result
    result.outputs = {
        name: evaluate(str(meta["value"]), context) for name, meta in spec["outputs"].items()
    }
    return result


def _artifact(
    name: str, with_: dict[str, str], store: Path | None, result: ActionRun
) -> str | None:
    """``upload-artifact`` (copies ``path`` into the store under ``name``; ``overwrite``) and
    ``download-artifact`` (copies the stored files into ``path``); the problem, if any."""
    if name == "actions/upload-artifact":
        result.uploaded[with_["name"]] = with_["path"]
        if store is None:
            return None
        source, kept = Path(with_["path"]), store / with_["name"]
        if not source.exists():
            missing = with_.get("if-no-files-found", "warn") == "error"
            return f"upload-artifact: no files at {source}" if missing else None
        if kept.exists() and with_.get("overwrite") != "true":
            return f"upload-artifact: an artifact named {with_['name']} exists (409 Conflict)"
        shutil.rmtree(kept, ignore_errors=True)
        if source.is_dir():
            shutil.copytree(source, kept)
        else:
            kept.mkdir(parents=True)
            shutil.copy2(source, kept / source.name)
        return None
    found = store / with_["name"] if store is not None else None
    if found is None or not found.is_dir():
        return f"download-artifact: Artifact not found for name: {with_['name']}"
    shutil.copytree(found, Path(with_["path"]), dirs_exist_ok=True)
    return None


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


def event_env(
    tmp_path: Path, *, event: str, payload: dict[str, Any], repository: str, api_url: str
) -> dict[str, str]:
    """What the runner gives every job of an event: the payload written to
    ``GITHUB_EVENT_PATH``, the event's name, the repository and its API, a bare ``PATH``, and
    the machine's network settings (a real install, ``PROMPT_TRAINER_TEST_INSTALL=1``, needs
    them) and ``PYTHONPATH`` (a run against another tree of the package)."""
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(payload))
    passed = ("UV_", "PIP_", "SSL_", "REQUESTS_", "CURL_", "HTTP", "NO_PROXY", "PYTHONPATH")
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": repository,
        "GITHUB_API_URL": api_url,
        **{k: v for k, v in os.environ.items() if k.startswith(passed)},
    }


@dataclass
class JobRun:
    """One job of a workflow run: ``success``, ``failure`` or ``skipped``; its outputs; the
    action's run (None when skipped); the token and the secrets it was given."""

    name: str
    result: str
    outputs: dict[str, str] = field(default_factory=dict)
    action: ActionRun | None = None
    token: str = ""
    secrets: tuple[str, ...] = ()


def _order(jobs: dict[str, Any]) -> list[str]:
    """Jobs in an order where each comes after the jobs it ``needs``."""
    done: list[str] = []
    while len(done) < len(jobs):
        ready = [
            name for name, job in jobs.items() if name not in done and set(_needs(job)) <= set(done)
        ]
        assert ready, "the jobs' needs form a cycle"
        done += ready
    return done


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def run_workflow(
    workflow: dict[Any, Any],
    *,
    event_name: str,
    payload: dict[str, Any],
    repository: str,
    checkout: Path,
    tmp: Path,
    token_for: Callable[[dict[str, str]], str],
    secrets: dict[str, str],
    env: dict[str, str],
    after_job: Callable[[JobRun, Path], bool] | None = None,
) -> dict[str, JobRun]:
    """Run a workflow's jobs the way the runner does, in ``needs`` order, each on a fresh copy
    of ``checkout`` (``actions/checkout``) with its own ``RUNNER_TEMP``, the token
    ``token_for`` gives for its ``permissions:``, only the secrets its expressions name, and the
    run's artifacts passed between them. The only ``uses:`` besides checkout is this repository's
    action (``./`` or ``<owner>/prompt-trainer@<ref>``), run by ``run_action``. A job's ``if:``
    (``success()`` of its needs by default) sees ``github``, ``needs`` and ``inputs``.
    ``after_job`` sees each job that ran and the run's artifact store (one folder per artifact,
    which it may change, as any job of the run could); when it returns False the run stops
    there (the jobs left are not in the result)."""
    triggers = _triggers(workflow)
    runs: dict[str, JobRun] = {}
    artifacts = tmp / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    for name in _order(workflow["jobs"]):
        job = workflow["jobs"][name]
        needs = {n: {"result": runs[n].result, "outputs": runs[n].outputs} for n in _needs(job)}
        failed = any(n["result"] != "success" for n in needs.values())
        context = _job_context(name, payload, event_name, repository, needs)
        context["github"]["token"] = token_for(
            job.get("permissions", workflow.get("permissions")) or {}
        )
        started = event_name in triggers and (
            condition(str(job.get("if", "success()")), context, failed=failed)
        )
        if not started:
            runs[name] = JobRun(name, "skipped")
            continue
        runs[name] = _run_job(name, job, context, checkout=checkout, tmp=tmp / name,
                              secrets=secrets, env=env, artifacts=artifacts)  # fmt: skip
        if after_job is not None and not after_job(runs[name], artifacts):
            break
    return runs


def _job_context(
    name: str,
    payload: dict[str, Any],
    event_name: str,
    repository: str,
    needs: dict[str, Any],
) -> dict[str, Any]:
    github = {
        "event_name": event_name,
        "event": payload,
        "repository": repository,
        "actor": (payload.get("sender") or {}).get("login", ""),
        "run_id": "1",
        "run_attempt": "1",
        "job": name,
    }
    return {"github": github, "needs": needs, "inputs": payload.get("inputs") or {}, "steps": {}}


def _run_job(
    name: str,
    job: dict[str, Any],
    context: dict[str, Any],
    *,
    checkout: Path,
    tmp: Path,
    secrets: dict[str, str],
    env: dict[str, str],
    artifacts: Path,
) -> JobRun:
    workspace, temp = tmp / "workspace", tmp / "runner-temp"
    temp.mkdir(parents=True)
    named: set[str] = set()

    class Secrets(dict[str, str]):
        """The ``secrets`` context, remembering which ones the job's expressions read."""

        def get(self, key: str, default: Any = None) -> Any:
            named.add(key)
            return super().get(key, default)

    context = {**context, "secrets": Secrets(secrets), "runner": {"os": "Linux", "temp": str(temp)}}
    job_env = {**env, **{k: evaluate(str(v), context) for k, v in job.get("env", {}).items()}}
    run = JobRun(name, "success", token=context["github"]["token"])
    for step in job["steps"]:
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/checkout@"):
            shutil.copytree(checkout, workspace, symlinks=True)
            continue
        assert uses == "./" or "/prompt-trainer@" in uses, f"no stand-in for {uses or 'run:'}"
        step_env = {k: evaluate(str(v), context) for k, v in step.get("env", {}).items()}
        with_ = {k: evaluate(str(v), context) for k, v in step.get("with", {}).items()}
        action = run_action(
            Path(__file__).resolve().parents[1], workspace=workspace, with_inputs=with_,
            env={**job_env, **step_env}, github=context["github"], temp=temp,
            replace=install_replacement(temp), artifacts=artifacts,
        )  # fmt: skip
        run.action = action
        if "id" in step:
            context["steps"][step["id"]] = {"outputs": action.outputs}
        if action.returncode != 0:
            run.result = "failure"
            break
    run.outputs = {k: evaluate(str(v), context) for k, v in job.get("outputs", {}).items()}
    run.secrets = tuple(sorted(named))
    return run
