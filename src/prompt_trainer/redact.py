"""Secret redaction: replace credentials with typed placeholders before text leaves the runner.

Applied by the collectors to every piece of outside text (test output, test and suite names,
PR titles, review comments, trace steps) before a ``Sample`` is built, so nothing downstream
(the store, the LLM, the PR body) ever sees a secret. Each rule is a named regular expression; a
match becomes ``[REDACTED:<name>]`` (a rule with a ``pre`` group keeps that group, e.g. the
header or key name before the value). Rules are written to be specific (prefixes, lengths,
structure) so hashes, UUIDs, cache keys and ``${{ secrets.X }}`` references are not redacted. A
known prefix also matches right after an URL-encoded ``=`` (``%3D``), where ``\\b`` would not.
``clean_name`` is the short form for names and titles: redacted, then capped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from functools import lru_cache
from typing import Final

#: Where a prefixed secret may start: not inside a word, or right after ``%3D``/``%3A``/``%2F``.
_S = r"(?:(?<=%3[DdAa])|(?<=%2[Ff])|(?<![A-Za-z0-9]))"
_B64 = r"[A-Za-z0-9+/]"


#: The longest JWT header recognised (a header with a certificate chain can be longer; its
#: payload and signature are then left to ``bearer-token`` and the assignments).
JWT_HEADER = 1024


def _prefixed(name: str, body: str) -> tuple[str, re.Pattern[str]]:
    """A rule for a secret with a known prefix: ``body`` where a secret may start (``_S``)."""
    return name, re.compile(_S + body)


_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
    ),
    # actions/checkout's ``http.<url>.extraheader AUTHORIZATION: basic <base64>``, and any other
    # Basic credential (checked to decode to ``user:password`` in ``_redact_basic``).
    (
        "basic-auth",
        re.compile(
            rf"(?i)(?P<pre>authorization\\?[\"']?\s*[:=]\s*\\?[\"']?basic\s+)(?P<value>{_B64}{{6,}}={{0,2}})"
        ),
    ),
    # The base64 of ``x-access-token:<token>`` on its own (outside a header).
    _prefixed("basic-auth", rf"eC1hY2Nlc3MtdG9rZW46{_B64}{{8,}}={{0,2}}"),
    _prefixed(
        "github-token", r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"
    ),
    _prefixed("gitlab-token", r"glpat-[A-Za-z0-9_\-]{20,}"),
    _prefixed("anthropic-key", r"sk-ant-[A-Za-z0-9_\-]{20,}"),
    _prefixed("openrouter-key", r"sk-or-v1-[A-Fa-f0-9]{32,}"),
    _prefixed("openai-key", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    _prefixed("stripe-key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    _prefixed("google-api-key", r"AIza[0-9A-Za-z_\-]{35}"),
    _prefixed("google-oauth", r"(?:GOCSPX-[A-Za-z0-9_\-]{20,}|ya29\.[A-Za-z0-9_\-]{20,})"),
    _prefixed("aws-access-key", r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    # ``aws_secret_access_key = <40>``, ``AWS_SECRET_ACCESS_KEY <40>``, JSON ``"SecretAccessKey"``.
    (
        "aws-secret-key",
        re.compile(
            r"(?i)(?P<pre>secret_?access_?key\\?[\"']?\s*+[:=]?\s*+\\?[\"']?)"
            r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
    ),
    (
        "azure-storage-key",
        re.compile(rf"(?i)(?P<pre>(?:AccountKey|SharedAccessKey)\s*=\s*){_B64}{{20,}}={{0,2}}"),
    ),
    # A shared access signature in a URL or an error message (``...&sig=AbC%2Fd...%3D``).
    ("azure-sas", re.compile(r"(?i)(?P<pre>(?<![A-Za-z0-9])sig=)[A-Za-z0-9%+/=]{16,}")),
    _prefixed("slack-token", r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    _prefixed("slack-token", r"xapp-\d-[A-Za-z0-9]+-\d+-[A-Za-z0-9]{16,}"),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+")),
    (
        "discord-webhook",
        re.compile(
            r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]+"
        ),
    ),
    _prefixed("sendgrid-key", r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}"),
    _prefixed("pypi-token", r"pypi-[A-Za-z0-9_\-]{50,}"),
    _prefixed("twilio-key", r"SK[0-9a-fA-F]{32}(?![0-9A-Za-z])"),
    _prefixed("npm-token", r"npm_[A-Za-z0-9]{36}\b"),
    _prefixed("huggingface-token", r"hf_[A-Za-z0-9]{30,}\b"),
    # The header is read for at most JWT_HEADER characters from each start: a run of
    # ``eyJ-eyJ-...`` (a start after every ``-``) was read to its end from each one.
    _prefixed(
        "jwt",
        rf"eyJ[A-Za-z0-9_-]{{8,{JWT_HEADER}}}+\.eyJ[A-Za-z0-9_-]{{8,}}+\.[A-Za-z0-9_-]{{8,}}",
    ),
    ("bearer-token", re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]{20,}=*")),
    ("url-credentials", re.compile(r"(?<=://)[^/\s:@]{0,256}:[^/\s@]{1,256}(?=@)")),
    # ``NAME=value``, ``"name": "value"``, ``x-api-key: value``, ``name%3Dvalue``: the name
    # decides (``_looks_like_secret_name``), the value is hidden.
    (
        "assignment",
        re.compile(
            r"(?i)(?<![A-Za-z0-9_.\-])"
            r"([A-Za-z0-9_.\-]{0,60}?(?:TOKEN|KEY|SECRET|PASSWORD|PASSWD))"
            r"(\\?\"?'?\s*(?:[=:]|%3D|%3A)\s*)"
            r"(\\?\"[^\"\n\\]{4,}\\?\"|'[^'\n]{4,}'|[^\s\"',;&]{4,})"
        ),
    ),
)
#: Names that end like a secret's but hold none (cache keys, database keys, public keys), by
#: their last two words.
NOT_SECRET_NAMES: Final = frozenset(
    {
        "CACHE_KEY",
        "PRIMARY_KEY",
        "FOREIGN_KEY",
        "SORT_KEY",
        "PARTITION_KEY",
        "PUBLIC_KEY",
        "HASH_KEY",
        "RANGE_KEY",
        "ROW_KEY",
        "IDEMPOTENCY_KEY",
        "NEXT_TOKEN",
        "PAGE_TOKEN",
    }
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: A name or title longer than this is cut (``clean_name``).
NAME_CHARS: Final = 500
#: What ``excerpt`` reads beyond its cap: longer than any secret shape but a private key.
WINDOW_MARGIN: Final = 1024


def redact(text: str) -> str:
    """Return ``text`` with every recognized secret replaced by ``[REDACTED:<kind>]``."""
    for name, pattern in _RULES:
        if name == "assignment":
            text = pattern.sub(_redact_assignment, text)
        elif name == "basic-auth":
            text = pattern.sub(_redact_basic, text)
        elif "pre" in pattern.groupindex:
            text = pattern.sub(rf"\g<pre>[REDACTED:{name}]", text)
        else:
            text = pattern.sub(f"[REDACTED:{name}]", text)
    return text


def _redact_basic(match: re.Match[str]) -> str:
    """A Basic credential is the base64 of ``user:password``: words that merely follow
    ``Authorization: Basic`` (``authentication is off``) are kept."""
    pre = match.group("pre") if "pre" in match.re.groupindex else ""
    value = match.group("value") if "value" in match.re.groupindex else match.group(0)
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    if b":" not in decoded:
        return match.group(0)
    return f"{pre}[REDACTED:basic-auth]"


def _redact_assignment(match: re.Match[str]) -> str:
    """Keep the variable name and separator, hide the value (unless already redacted)."""
    name, sep, value = match.group(1), match.group(2), match.group(3)
    reference = value.lstrip("\\\"'").startswith("$")  # ${{ secrets.X }}, $TOKEN: not a value
    if "[REDACTED:" in value or reference or not _looks_like_secret_name(name):
        return match.group(0)
    return f"{name}{sep}[REDACTED:secret]"


def _looks_like_secret_name(name: str) -> bool:
    """``GITHUB_TOKEN``, ``api_key``, ``apiKey``, ``x-api-key``, ``DB_PASSWORD`` are secrets; a
    bare ``key`` or ``token``, ``monkey``, ``cacheKey`` and ``max_tokens`` are not."""
    words = [w.upper() for w in _WORD.findall(name)]
    if not words:
        return False
    last = words[-1]
    if last in ("PASSWORD", "PASSWD", "SECRET"):
        return True
    if last not in ("KEY", "TOKEN") or len(words) < 2:
        return False
    return "_".join(words[-2:]) not in NOT_SECRET_NAMES


def excerpt(text: str, limit: int) -> str:
    """Redact, then cap to ``limit`` characters, marking the cut. Only the first ``limit`` plus
    ``WINDOW_MARGIN`` characters are read (the rest is cut anyway; a secret that crosses the
    cut is still whole inside the window), so a text of any size costs the same."""
    window = text[: limit + WINDOW_MARGIN]
    clean = redact(window)
    if len(clean) <= limit and len(window) == len(text):
        return clean
    cut = len(clean) - limit + 20 + len(text) - len(window)
    return clean[: max(limit - 20, 0)] + f"… [{cut} chars cut]"


# Cached: a report repeats its class, suite and failure-type names for many cases.
@lru_cache(maxsize=4096)
def clean_name(text: str, cap: int = NAME_CHARS) -> str:
    """A name or title from outside (test, class, suite, PR title): redacted, then capped to
    ``cap`` characters. A cut name ends with ``…`` and a hash of what was redacted and of the
    length, so two long names that share their beginning stay apart. Only the first
    ``4 * cap`` characters are redacted (the rest is cut anyway), so a huge name costs little."""
    clean = redact(text[: 4 * cap] if len(text) > 4 * cap else text)
    if len(clean) <= cap:
        return clean
    whole = f"{clean}\0{len(text)}".encode("utf-8", "replace")  # the redacted part, never raw
    digest = hashlib.sha256(whole).hexdigest()[:10]
    return f"{clean[: max(cap - 11, 0)]}…{digest}"
