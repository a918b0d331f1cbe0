"""Which configuration a run on an event may use: on events a pull request can steer, the
default branch's, read first.

On ``GUARDED_EVENTS`` (the checkout may be a pull request's merge ref) ``trusted_settings`` reads
the default branch's configuration file through the API *before* anything of the checkout's is
parsed, at the path the run was given, taken literally (no link followed). The checkout's file
counts only when it is a regular file (not a symbolic link, and under no linked directory) whose
bytes are those of the default branch's blob at that path; otherwise the run uses the default
branch's configuration and says so in the log and the step summary, naming the
``SENSITIVE_KEYS`` the checkout's file would have changed (that file is parsed only for this
notice, with alias expansion bounded, and a file that cannot be parsed is simply ignored). So
``SENSITIVE_KEYS`` (``eval_command``, ``api_base``, ``model``, trust lists) never come from a
pull request, a link cannot make a fixture of the default branch pass for its configuration, and a
YAML alias bomb in the checkout cannot stall the run. When the default branch has no
configuration file, nothing is done. Other events load the checkout's file (``Settings.load``).

Takes the configuration path, the process environment, the event and a way to reach GitHub;
returns ``TrustedSettings`` (the settings, or None, and the notice).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prompt_trainer.errors import ConfigError
from prompt_trainer.github import GitHubClient
from prompt_trainer.loop.events import PULL_EVENTS, REVIEW_EVENTS
from prompt_trainer.settings import (
    DEFAULT_CONFIG_PATH,
    SENSITIVE_KEYS,
    ConfigFile,
    Environment,
    Settings,
    config_value,
    parse_config,
)

Log = Callable[[str], None]
#: Events whose checkout a pull request can steer: only the default branch's config counts.
GUARDED_EVENTS = (*PULL_EVENTS, *REVIEW_EVENTS)


@dataclass(frozen=True)
class TrustedSettings:
    """The settings a run may use, and what was done about the checkout's config file.

    ``settings`` is None when nothing may be done (the default branch has no config file)."""

    settings: Settings | None
    notice: str | None = None


@dataclass(frozen=True)
class CheckoutConfig:
    """The config file as the checkout has it: its path in the repository, its bytes (None when
    it cannot be read or lies outside the checkout), and why it cannot count (a link)."""

    path: str
    data: bytes | None
    refused: str = ""


def trusted_settings(
    path: Path,
    env: Mapping[str, str],
    *,
    guarded: bool,
    connect_client: Callable[[Environment], GitHubClient],
    log: Log,
    root: Path | None = None,
) -> TrustedSettings:
    """The settings of a run: on a ``guarded`` event (one of ``GUARDED_EVENTS`` whose plan does
    something), the default branch's configuration unless the checkout's is that very blob;
    otherwise the checkout's file."""
    if not guarded:
        return TrustedSettings(Settings.load(path, env, root=root))
    root = (root or Path.cwd()).resolve()
    environment = Environment.from_mapping(env)
    name = environment.github_event_name
    checkout = checkout_config(path, root)
    client = connect_client(environment)
    branch = client.info().default_branch
    text = client.read_text(checkout.path, ref=branch)
    if text is None:
        notice = (
            f"nothing done: the default branch {branch} has no {checkout.path}, and on {name} "
            "events prompt-trainer uses only the default branch's configuration (a pull request "
            "may have written the one in the checkout); merge the configuration first"
        )
        log(f"action: {notice}")
        return TrustedSettings(None, notice)
    trusted = parse_config(text, source=f"{checkout.path} on {branch}")
    settings = Settings.of(trusted, env, path=path, root=root)
    if not checkout.refused and checkout.data == text.encode("utf-8"):
        log(f"action: {checkout.path} is the default branch's ({branch})")
        return TrustedSettings(settings)
    notice = _swap_notice(checkout, trusted, branch=branch, event=name or "")
    log(f"action: {notice}")
    return TrustedSettings(settings, notice)


def checkout_config(path: Path, root: Path) -> CheckoutConfig:
    """The config file's path in the repository (``path`` taken literally: ``..`` collapsed, no
    link followed) and its bytes in the checkout; a link (the file or a directory on its way
    from ``root``) is refused, since the API would read the blob at the literal path."""
    literal = Path(os.path.normpath(path if path.is_absolute() else Path.cwd() / path))
    try:
        relative = literal.relative_to(root)
    except ValueError:
        return CheckoutConfig(DEFAULT_CONFIG_PATH, None, f"{path} is outside the checkout")
    where = root
    for part in relative.parts:
        where = where / part
        if where.is_symlink():
            shown = where.relative_to(root).as_posix()
            return CheckoutConfig(relative.as_posix(), None, f"{shown} is a symbolic link")
    try:
        return CheckoutConfig(relative.as_posix(), literal.read_bytes())
    except OSError:
        return CheckoutConfig(relative.as_posix(), None)


def _swap_notice(checkout: CheckoutConfig, trusted: ConfigFile, *, branch: str, event: str) -> str:
    why = f" ({checkout.refused})" if checkout.refused else ""
    changed = _changed_keys(checkout, trusted)
    ignored = f"; ignored from the checkout: {', '.join(changed)}" if changed else ""
    return (
        f"{checkout.path} in the checkout is not the default branch's{why}: this {event} run "
        f"uses the configuration of {branch}{ignored}"
    )


def _changed_keys(checkout: CheckoutConfig, trusted: ConfigFile) -> list[str]:
    """The ``SENSITIVE_KEYS`` the checkout's file sets otherwise (none when it is refused,
    missing or not a valid configuration: then it is not used at all)."""
    if checkout.refused or checkout.data is None:
        return []
    try:
        text = checkout.data.decode("utf-8")
        local = parse_config(text, source=f"{checkout.path} in the checkout")
    except (UnicodeDecodeError, ConfigError):
        return []
    return [k for k in SENSITIVE_KEYS if config_value(local, k) != config_value(trusted, k)]
