"""GEPA's saved state for the ``gepa`` strategy: where it lives, which search it belongs to, and
whether it may be loaded.

Takes the ``TrainRequest`` (``state_dir``, ``earlier_states``) and what defines a search;
``key`` hashes the components, the training and validation pull requests (ids, views,
failures), the metric, the models and the instructions (not the budget: a later run with a larger
budget continues the same search); ``state_dir`` yields ``<state_dir>/gepa-<key>`` (a temporary
directory without ``state_dir``) and where the state it resumes came from: this run's directory,
or an earlier run's, copied in. GEPA saves its state as a pickle and loads it with ``pickle``;
``safe_state`` first reads it with a restricted unpickler that allows only plain data and GEPA's
state classes (``SAFE``), and a state that names anything else is discarded, not loaded (the run
directories travel between workflow attempts in the Action's cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from prompt_trainer.train.gepa_metric import Instance
from prompt_trainer.train.sections import Components
from prompt_trainer.train.trainer import TrainRequest, load_instructions

STATE = "gepa_state.bin"
#: What GEPA's saved state may name (plain data and its own state classes); anything else is
#: refused by the restricted unpickler before GEPA loads it.
SAFE = {
    "builtins": {"dict", "list", "set", "frozenset", "tuple", "int", "float", "str", "bool"},
    "collections": {"defaultdict", "OrderedDict", "Counter"},
    "copyreg": {"_reconstructor"},
    "gepa.core.state": {"CachedEvaluation", "EvaluationCache", "ValsetEvaluation"},
    # The evaluation cache pickles as ``EvaluationCache[RolloutOutput, DataId]``: an item
    # lookup on the class with GEPA's two type variables.
    "_operator": {"getitem"},
    "gepa.core.adapter": {"RolloutOutput"},
    "gepa.core.data_loader": {"DataId"},
}


def key(
    request: TrainRequest,
    layout: Components,
    train: list[Instance],
    val: list[Instance],
    *,
    minibatch: int,
) -> str:
    """What defines the search, hashed: a search with this key continues a saved one."""
    metric = "replay" if request.gepa.metric == "replay" and request.replayer else "judge"
    data = {
        "gepa": metadata.version("gepa"),
        "components": layout.texts,
        "train": [_instance_key(i) for i in train],
        "val": [_instance_key(i) for i in val],
        "metric": metric,
        "model": request.llm.model,
        "reflection": request.reflection_llm.model if request.reflection_llm else "",
        "instructions": [load_instructions(n) for n in ("judge_edits.md", "gepa_reflect.md")],
        "minibatch": minibatch,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _instance_key(instance: Instance) -> list[Any]:
    view = json.dumps(instance.view.model_dump(mode="json"), sort_keys=True)
    failures = [f.model_dump(mode="json") for f in instance.failures]
    return [instance.sample.id, hashlib.sha256(view.encode()).hexdigest(), failures]


# -- the state: where it lives, resuming it ----------------------------------------------------


@contextlib.contextmanager
def state_dir(request: TrainRequest, search: str) -> Iterator[tuple[Path, str]]:
    """This search's state directory (a temporary one without ``request.state_dir``), and
    where the saved state it resumes came from ("" for a new search)."""
    with contextlib.ExitStack() as stack:
        base = request.state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        folder = base / f"gepa-{search}"
        resumed = "this run's earlier attempt" if (folder / STATE).is_file() else ""
        for earlier in request.earlier_states if not resumed else ():
            if (earlier / folder.name / STATE).is_file():
                shutil.copytree(earlier / folder.name, folder, dirs_exist_ok=True)
                resumed = f"an earlier run ({earlier})"
                break
        if resumed and not safe_state(folder / STATE):
            shutil.rmtree(folder)
            resumed = ""
        folder.mkdir(parents=True, exist_ok=True)
        yield folder, resumed


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in SAFE.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in GEPA's state")


def safe_state(path: Path) -> bool:
    """Whether the pickle at ``path`` names only plain data and GEPA's state classes."""
    try:
        _Restricted(io.BytesIO(path.read_bytes())).load()
    except Exception:  # any failure to read it this way: the state is not trusted
        return False
    return True
