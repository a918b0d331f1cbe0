"""``python -m prompt_trainer`` runs the same CLI as the ``prompt-trainer`` console script."""

from __future__ import annotations

from prompt_trainer.cli import main

raise SystemExit(main())
