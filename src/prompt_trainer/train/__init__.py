"""Train stage: ask a language model, through DSPy, for a candidate prompt set.

The only package that imports DSPy, and only when ``train``, ``train_candidate`` or
``TrainRequest`` is first used (through this package's ``__getattr__``): the evidence view
(``train.evidence``, ``train.budget``) and its offline preview (``train.preview``) load without
it, and commands that do not call an LLM never pay DSPy's import time.
``LITELLM_LOCAL_MODEL_COST_MAP`` is set here, before DSPy loads LiteLLM, so price lookups never
try to download a price list.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

if TYPE_CHECKING:
    from prompt_trainer.train.strategies import train
    from prompt_trainer.train.trainer import TrainRequest, train_candidate

__all__ = ["TrainRequest", "train", "train_candidate"]

_HOMES = {
    "train": "prompt_trainer.train.strategies",
    "TrainRequest": "prompt_trainer.train.trainer",
    "train_candidate": "prompt_trainer.train.trainer",
}


def __getattr__(name: str) -> object:
    """Import DSPy's side of the package on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
