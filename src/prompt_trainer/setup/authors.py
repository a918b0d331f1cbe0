"""``init``'s guess of ``agent.authors``: the bot accounts that opened the repository's recent
pull requests, read through the GitHub adapter when a token is there, else from the clone's
history, else from the agent workflows.

Takes the authors of recent PRs (login, whether GitHub calls the account a bot, how many PRs),
or the clone; returns ``Authors``: the logins to write, where they came from (a comment for the
config), and the other bots seen, which are listed but left out (dependency, release and review
bots open PRs too, but are not coding agents). A bot prompt-trainer does not know is listed in a
comment for the user to decide.

In the history, a squash-merged PR's commit is authored by the PR's author and the agents
commit under their app accounts: ``<id>+<login>@users.noreply.github.com`` names the login (the
Copilot coding agent commits as ``copilot-swe-agent[bot]`` with ``198982749+Copilot@...``, and
GitHub's API calls the author of its PRs ``Copilot``: both are written, either matches).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prompt_trainer.targets import git

#: Coding agents that open pull requests, by login, with what they are.
KNOWN_AGENTS = {
    "claude[bot]": "Claude Code (claude-code-action)",
    "Copilot": "the Copilot coding agent",
    "copilot-swe-agent[bot]": "the Copilot coding agent",
    "chatgpt-codex-connector[bot]": "Codex",
    "devin-ai-integration[bot]": "Devin",
    "google-labs-jules[bot]": "Jules",
    "cursor[bot]": "Cursor's background agent",
    "cursoragent": "Cursor's background agent",
    "openhands-agent": "OpenHands",
    "sweep-ai[bot]": "Sweep",
    "amazon-q-developer[bot]": "Amazon Q Developer",
    "codegen-sh[bot]": "Codegen",
}
#: One agent under two names: GitHub's API and the commits name Copilot differently.
ALIASES = {
    "Copilot": ("Copilot", "copilot-swe-agent[bot]"),
    "copilot-swe-agent[bot]": ("Copilot", "copilot-swe-agent[bot]"),
}
#: Bots that open PRs but are not coding agents.
NOT_AGENTS = frozenset(
    {"dependabot[bot]", "dependabot-preview[bot]", "renovate[bot]", "github-actions[bot]",
     "pre-commit-ci[bot]", "allcontributors[bot]", "mergify[bot]", "release-please[bot]",
     "changeset-bot[bot]", "imgbot[bot]", "greenkeeper[bot]", "snyk-bot", "coderabbitai[bot]",
     "gemini-code-assist[bot]", "codecov[bot]", "vercel[bot]", "netlify[bot]",
     "sonarcloud[bot]", "weblate", "transifex-integration[bot]", "octo-sts[bot]"}
)  # fmt: skip
NOREPLY = re.compile(r"^(?:\d+\+)?([^@]+)@users\.noreply\.github\.com$", re.IGNORECASE)
#: Commits of the history read for the guess.
HISTORY_COMMITS = 500
DEFAULT = "claude[bot]"


@dataclass(frozen=True)
class Authors:
    """``agent.authors`` to write, where they came from, and the bots left out (with counts)."""

    logins: tuple[str, ...]
    source: str
    left_out: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()


def from_pulls(authors: Iterable[tuple[str, bool]], *, source: str) -> Authors | None:
    """The guess from recent PRs' (login, is bot) pairs; None when no bot opened one."""
    counts = Counter(login for login, bot in authors if bot or login in KNOWN_AGENTS)
    return _guess(counts, source=source)


def from_history(root: Path, *, commits: int = HISTORY_COMMITS) -> Authors | None:
    """The guess from the authors and committers of the clone's last ``commits`` commits."""
    out = git(root, "log", f"-{commits}", "--format=%an%x1f%ae")
    if not out:
        return None
    counts: Counter[str] = Counter()
    lines = out.splitlines()
    for line in lines:
        name, _, email = line.partition("\x1f")
        login = _login(name.strip(), email.strip())
        if login and (login.endswith("[bot]") or login in KNOWN_AGENTS):
            counts[login] += 1
    return _guess(counts, source=f"the authors of the last {len(lines)} commits")


def _login(name: str, email: str) -> str | None:
    """The GitHub login a commit's author is: the noreply address's, else a ``[bot]`` name."""
    noreply = NOREPLY.match(email)
    if noreply:
        return noreply.group(1)
    return name if name.endswith("[bot]") else None


def _guess(counts: Counter[str], *, source: str) -> Authors | None:
    agents = [login for login, _ in counts.most_common() if login in KNOWN_AGENTS]
    left = [f"{login} ({n})" for login, n in counts.most_common() if login in NOT_AGENTS]
    unknown = [
        f"{login} ({n})"
        for login, n in counts.most_common()
        if login not in KNOWN_AGENTS and login not in NOT_AGENTS
    ]
    if not agents and not unknown and not left:
        return None
    logins = tuple(dict.fromkeys(alias for a in agents for alias in ALIASES.get(a, (a,))))
    return Authors(logins=logins, source=source, left_out=tuple(left), unknown=tuple(unknown))


def fallback(workflow_agents: Iterable[str]) -> Authors:
    """No history to read: the agent the workflows run (claude-code-action's ``claude[bot]``),
    else ``claude[bot]``, said to be a default."""
    found = tuple(dict.fromkeys(workflow_agents))
    if found:
        return Authors(logins=found, source="the agent action your workflows run")
    return Authors(logins=(DEFAULT,), source="a default: no agent PR or commit was found")


def comment_lines(authors: Authors) -> list[str]:
    """The config's comment above ``agent:``: where the logins came from, what was left out."""
    lines = [f"# agent.authors: from {authors.source}."]
    if authors.left_out:
        lines.append(f"# Left out (not coding agents): {', '.join(authors.left_out)}.")
    if authors.unknown:
        lines.append(f"# Other bots that opened PRs: {', '.join(authors.unknown)}: add an agent's.")
    return lines
