"""Train stage: ask a language model, through DSPy, for a candidate prompt set.

The only package that imports DSPy. It is imported lazily by the pipeline, so commands that do
not call an LLM never pay DSPy's import time. ``LITELLM_LOCAL_MODEL_COST_MAP`` is set here,
before DSPy loads LiteLLM, so price lookups never try to download a price list.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from prompt_trainer.train.strategies import train
from prompt_trainer.train.trainer import TrainRequest, train_candidate

__all__ = ["TrainRequest", "train", "train_candidate"]
