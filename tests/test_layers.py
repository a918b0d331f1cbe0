"""The rooms of the package keep their doors: the learning core (``train/``, ``evaluate/``,
``measure/``) never reaches up into the run's operations (``loop/``, ``pipeline``, ``cli/``):
the caller passes values down; measuring never imports training (``measure/`` reads what both
need from lower modules, ``bullets``, ``measure.trace_marks``), and collecting imports none of
training, the loop, the pipeline or the CLI; and each heavy dependency has one importer (DSPy:
``train/``, PyGithub: ``github/``, Jinja2: ``render/``). Read from the source's import
statements, lazy imports inside functions and ``TYPE_CHECKING`` blocks included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "prompt_trainer"
UPPER = ("prompt_trainer.loop", "prompt_trainer.pipeline", "prompt_trainer.cli")
#: Rooms below others, and the modules above them that they never import.
BELOW = {
    "measure": ("prompt_trainer.train",),
    "collect": ("prompt_trainer.train", *UPPER),
}
#: The top-level module of a dependency, and the one room that may import it.
OWNERS = {"dspy": "train/", "gepa": "train/", "github": "github/", "jinja2": "render/"}


def imports(path: Path) -> list[str]:
    """Every absolute module name ``path`` imports, at any depth of its code."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)  # and ``from prompt_trainer import loop`` names a room:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def modules(room: str = "") -> list[Path]:
    return sorted((PACKAGE / room).rglob("*.py"))


@pytest.mark.parametrize("room", ["train", "evaluate", "measure"])
def test_the_learning_core_never_imports_the_runs_operations(room: str) -> None:
    reaching = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in modules(room)
        for name in imports(path)
        if name.startswith(UPPER)
    ]
    assert reaching == []


@pytest.mark.parametrize(("room", "above"), sorted(BELOW.items()))
def test_a_lower_room_never_imports_the_rooms_above_it(room: str, above: tuple[str, ...]) -> None:
    reaching = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in modules(room)
        for name in imports(path)
        if name.startswith(above)
    ]
    assert reaching == []
    assert modules(room)  # the room exists: the rule reads real files


@pytest.mark.parametrize(("dependency", "owner"), sorted(OWNERS.items()))
def test_each_heavy_dependency_is_imported_by_its_room_only(dependency: str, owner: str) -> None:
    outside = [
        str(path.relative_to(PACKAGE))
        for path in modules()
        if not path.relative_to(PACKAGE).as_posix().startswith(owner)
        and any(name.split(".")[0] == dependency for name in imports(path))
    ]
    assert outside == []
    assert any(  # the rule reads real imports: the owner does import it
        name.split(".")[0] == dependency for path in modules(owner) for name in imports(path)
    )
