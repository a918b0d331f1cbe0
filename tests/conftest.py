"""Shared fixtures: the local GitHub and LM servers, a repository checkout, a network guard.

The guard fails any test that opens a socket to a non-loopback address, and the environment
given to the CLI never carries a real token or key.
"""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios import CONFIG, MAIN_PROMPT, SUBAGENT, arrange, trainer_reply
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
#: The bundled example (examples/basic): a prompt repository with twelve PRs of evidence.
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"
GOLDEN = Path(__file__).parent / "golden"
LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse connections outside loopback (a test must never reach the internet)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if (
            isinstance(host, str)
            and not host.startswith(LOOPBACK)
            and self.family != socket.AF_UNIX
        ):
            raise AssertionError(f"test tried to reach {address}: only loopback is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_internal_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test in which a collector skipped a file because of a bug in our code
    (``collect/per_file.py`` logs those); a test that means to reach one is marked
    ``internal_error``."""
    handler = _Records()
    logger = logging.getLogger("prompt_trainer.collect.per_file")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("internal_error") is None:
        pytest.fail(f"a collector hit a bug: {handler.records[0].getMessage()}")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    server = FakeGitHub()
    yield server
    server.close()


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
def github_env(github: FakeGitHub) -> dict[str, str]:
    """The environment a run needs to reach the local GitHub server; retries do not back off
    (a Retry-After or a rate-limit reset from the server is still honoured)."""
    return {
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.api_url,
        "GITHUB_REPOSITORY": github.full_name,
        "PROMPT_TRAINER_BACKOFF_S": "0",
    }


@pytest.fixture
def env(github_env: dict[str, str], llm: FakeLLM) -> dict[str, str]:
    """``github_env`` plus the local LM server as the model endpoint."""
    return {**github_env, "PROMPT_TRAINER_API_BASE": llm.api_base}


@pytest.fixture
def ready(
    github: FakeGitHub, llm: FakeLLM, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The shared scenario (``tests/scenarios.py``: agent PR #7 with its evidence) on the local
    GitHub server, the scripted trainer reply, and the checkout as working directory."""
    arrange(github)
    llm.script = [trainer_reply]
    monkeypatch.chdir(checkout)
    return checkout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A repository checkout with a config, a main prompt and one subagent."""
    root = tmp_path / "repo"
    (root / ".github").mkdir(parents=True)
    (root / ".claude" / "agents").mkdir(parents=True)
    (root / ".github" / "prompt-trainer.yml").write_text(CONFIG)
    (root / "CLAUDE.md").write_text(MAIN_PROMPT)
    (root / ".claude" / "agents" / "test-runner.md").write_text(SUBAGENT)
    return root


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Any:
    """Compare text with a golden file under tests/golden/, or rewrite it with --update-golden;
    a missing golden file fails the test."""
    update = bool(request.config.getoption("--update-golden"))

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"no golden file {name}; rerun with --update-golden to write it"
        assert text == path.read_text(), f"{name} changed; rerun with --update-golden to accept"

    return check


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundled example (without its working directory), made the current one."""
    root = tmp_path / "basic"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    return root
