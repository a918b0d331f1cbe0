"""Secret redaction: replace credentials with typed placeholders before text leaves the runner.

Applied by the collectors to every piece of outside text (test output, review comments, trace
steps) before a ``Sample`` is built, so nothing downstream (the store, the LLM, the PR body) ever
sees a secret. Each rule is a named regular expression; a match becomes ``[REDACTED:<name>]``.
Rules are written to be specific (prefixes, lengths, structure) so hashes, UUIDs and base64
payloads are not redacted.
"""

from __future__ import annotations

import re
from typing import Final

_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
    ),
    (
        "github-token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}")),
    ("openrouter-key", re.compile(r"\bsk-or-v1-[A-Fa-f0-9]{32,}")),
    ("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}")),
    ("stripe-key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("google-oauth", re.compile(r"\b(?:GOCSPX-[A-Za-z0-9_\-]{20,}|ya29\.[A-Za-z0-9_\-]{20,})")),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer-token", re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]{20,}=*")),
    ("url-credentials", re.compile(r"(?<=://)[^/\s:@]{0,256}:[^/\s@]{1,256}(?=@)")),
    (
        "assignment",
        re.compile(
            r"(?i)(?<=\b)((?:[A-Z0-9_]*_)?(?:TOKEN|API_KEY|KEY|SECRET|PASSWORD|PASSWD))"
            r"(\"?\s*[=:]\s*)(\"[^\"\n]{4,}\"|'[^'\n]{4,}'|[^\s\"',;]{4,})"
        ),
    ),
)
#: Names that end like a secret's but hold none (cache keys, database keys, public keys).
NOT_SECRET_NAMES: Final = frozenset(
    {"CACHE_KEY", "PRIMARY_KEY", "FOREIGN_KEY", "SORT_KEY", "PARTITION_KEY", "PUBLIC_KEY"}
)


def redact(text: str) -> str:
    """Return ``text`` with every recognized secret replaced by ``[REDACTED:<kind>]``."""
    for name, pattern in _RULES:
        if name == "assignment":
            text = pattern.sub(_redact_assignment, text)
        else:
            text = pattern.sub(f"[REDACTED:{name}]", text)
    return text


def _redact_assignment(match: re.Match[str]) -> str:
    """Keep the variable name and separator, hide the value (unless already redacted)."""
    name, sep, value = match.group(1), match.group(2), match.group(3)
    reference = value.lstrip("\"'").startswith("$")  # ${{ secrets.X }}, $TOKEN: not a value
    if "[REDACTED:" in value or reference or not _looks_like_secret_name(name):
        return match.group(0)
    return f"{name}{sep}[REDACTED:secret]"


def _looks_like_secret_name(name: str) -> bool:
    """``GITHUB_TOKEN``, ``api_key``, ``DB_PASSWORD`` are secrets; a bare ``key`` is not."""
    upper = name.upper()
    if upper in ("KEY", "TOKEN") or upper in NOT_SECRET_NAMES:
        return False
    return upper.endswith(("_TOKEN", "_KEY", "_SECRET", "PASSWORD", "PASSWD", "SECRET"))


def excerpt(text: str, limit: int) -> str:
    """Redact, then cap to ``limit`` characters, marking the cut."""
    clean = redact(text)
    if len(clean) <= limit:
        return clean
    return clean[: max(limit - 20, 0)] + f"… [{len(clean) - limit + 20} chars cut]"
