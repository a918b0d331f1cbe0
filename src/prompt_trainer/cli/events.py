"""Webhook payload reading for the commands that run on a GitHub event (``action``, ``respond``,
``run`` on a ``pull_request`` event).

Takes ``GITHUB_EVENT_NAME``/``GITHUB_EVENT_PATH`` (from ``Settings.env``) and returns the payload
as a dict, or the PR number it is about; an unreadable payload raises ``ConfigError``. Kept
together so that one typed event parser can replace all three functions at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prompt_trainer.errors import ConfigError


def read_event(path: str | None) -> dict[str, object]:
    """The webhook payload at ``GITHUB_EVENT_PATH``."""
    if not path:
        raise ConfigError(
            "no event payload (GITHUB_EVENT_PATH is not set)", fix="pass --pr N to revise a PR"
        )
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event payload {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the event payload {path} is not a JSON object")
    return data


def pull_number(payload: Mapping[str, Any]) -> int | None:
    """The PR (or issue) number an event payload is about, if any."""
    for key in ("pull_request", "issue"):
        item = payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("number"), int):
            return int(item["number"])
    return None


def pull_number_from_event(name: str | None, path: str | None) -> int | None:
    """The PR number of a ``pull_request*`` event payload (``GITHUB_EVENT_PATH``), if any."""
    if not path or not (name or "").startswith("pull_request"):
        return None
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the event payload {path}: {exc}", fix="pass --pr N explicitly"
        ) from None
    pull = payload.get("pull_request") if isinstance(payload, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    return number if isinstance(number, int) else None
