"""prompt-trainer: learn from CI evidence and propose better prompts for coding agents.

The package is laid out by stage: ``collect`` turns CI evidence into ``Sample`` records, ``store``
keeps them, ``train`` asks an LLM (through DSPy) for a candidate prompt set, ``evaluate`` checks
it, ``render`` writes the pull-request body and ``propose`` opens or updates the pull request.
``pipeline`` calls them in order; ``cli`` is the only place that prints errors and exits.
"""

from __future__ import annotations

__version__ = "0.1.0"
