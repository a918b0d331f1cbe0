"""The one table of secret shapes ``redact`` replaces, each with a secret of its shape and a
look-alike that must be kept (``tests/test_redact.py`` iterates over the table; the kinds are
listed in ``docs/security.md``).

A shape is a named regular expression; a match becomes ``[REDACTED:<kind>]``, keeping the
``pre`` group when the pattern has one (the header or the variable name before the value). A
``check`` decides matches a pattern alone cannot (a Basic credential must decode to
``user:password``, a variable's name must say it holds a secret); ``replace`` writes the
replacement itself (a token wrapped over lines keeps what follows it). ``hints`` are literal
substrings one of which every match holds: a text without any of them skips the pattern (for a
case-insensitive pattern the hints are lowercase and looked for in the lowercased text).

Shapes are specific (prefixes, lengths, structure) so digests, git SHAs, UUIDs, cache keys and
``${{ secrets.X }}`` references are kept. A known prefix also matches right after an
URL-encoded ``=`` (``%3D``), where a word boundary would not. Every pattern reads outside text
in linear time: possessive repeats where two runs could split one stretch of text, and no start
inside a run a failed match read to its end (``tests/test_linear_regex.py``). The examples are
built by concatenation so that no literal secret sits in the repository.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

#: Where a prefixed secret may start: not inside a word, or right after ``%3D``/``%3A``/``%2F``.
_S = r"(?:(?<=%3[DdAa])|(?<=%2[Ff])|(?<![A-Za-z0-9]))"
_B64 = r"[A-Za-z0-9+/]"
#: The longest JWT header recognised (a header with a certificate chain can be longer; its
#: payload and signature are then left to ``bearer-token`` and the assignments).
JWT_HEADER: Final = 1024


@dataclass(frozen=True)
class Shape:
    """One kind of secret: its pattern, a secret of its shape and a look-alike to keep."""

    kind: str
    pattern: re.Pattern[str]
    example: str
    look_alike: str
    hints: tuple[str, ...] = ()
    check: Callable[[re.Match[str]], bool] | None = None
    replace: Callable[[re.Match[str]], str] | None = None

    @property
    def lower_hints(self) -> bool:
        return bool(self.pattern.flags & re.IGNORECASE)

    def applies(self, text: str, lowered: str) -> bool:
        """Whether ``text`` (``lowered``: the same, lowercased) holds one of the hints."""
        where = lowered if self.lower_hints else text
        return not self.hints or any(hint in where for hint in self.hints)

    def sub(self, text: str) -> str:
        return self.pattern.sub(self._replacement, text)

    def _replacement(self, match: re.Match[str]) -> str:
        if self.check is not None and not self.check(match):
            return match.group(0)
        if self.replace is not None:
            return self.replace(match)
        pre = match.group("pre") if "pre" in self.pattern.groupindex else ""
        return f"{pre}[REDACTED:{self.kind}]"


def _prefixed(
    kind: str, body: str, example: str, look_alike: str, *hints: str, flags: int = 0
) -> Shape:
    """A secret with a known prefix: ``body`` where a secret may start (``_S``)."""
    return Shape(kind, re.compile(_S + body, flags), example, look_alike, hints)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- checks ---------------------------------------------------------------------------------------


def decodes_to_credentials(match: re.Match[str]) -> bool:
    """A Basic credential (and Docker's ``auth``) is the base64 of ``user:password``: words that
    merely follow ``Authorization: Basic`` (``authentication is off``) are kept."""
    value = match.group("value")
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


_WORD: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
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
#: Last words that make a name a secret's on their own (``PGPASSWORD``, ``client_secret``,
#: ``FOO_APIKEY``), and those that need a word before them (``GH_PAT``, ``MYSQL_PWD``,
#: ``NPM_AUTH``, ``DB_PASS``, ``SENTRY_DSN``; not ``PWD``, and not ``PASSTHROUGH`` or
#: ``BYPASS_CACHE``, whose last word is another).
SECRET_ENDINGS: Final = (
    "PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "CREDENTIALS", "CREDENTIAL", "APIKEY",
)  # fmt: skip
SECRET_WORDS: Final = frozenset({"KEY", "TOKEN", "PAT", "PWD", "PASS", "AUTH", "DSN"})


def looks_like_secret_name(name: str) -> bool:
    """``GITHUB_TOKEN``, ``api_key``, ``apiKey``, ``x-api-key``, ``DB_PASSWORD``, ``PGPASSWORD``,
    ``GH_PAT``, ``_auth`` are secrets; a bare ``key``, ``token`` or ``PWD``, ``monkey``,
    ``cacheKey`` and ``max_tokens`` are not."""
    words = [w.upper() for w in _WORD.findall(name)]
    if not words:
        return False
    last = words[-1]
    if last.endswith(SECRET_ENDINGS):
        return True
    if last not in SECRET_WORDS:
        return False
    if len(words) < 2:
        return last == "AUTH" and name.startswith("_")  # .npmrc's _auth
    return "_".join(words[-2:]) not in NOT_SECRET_NAMES


#: Last words that say less than ``PASSWORD`` (``should_pass``, ``render_pass``, ``sentry_dsn``,
#: ``current_pwd``, ``use_pat``, ``jwt_auth`` are flags, counters and code as often as secrets):
#: their values are hidden only when they could be one (``plain_value``).
WEAK_WORDS: Final = frozenset({"PASS", "PWD", "DSN", "PAT", "AUTH"})
#: Values that are literals of a language or a config file, never a secret.
LITERALS: Final = frozenset(
    {"true", "false", "none", "null", "nil", "yes", "no", "on", "off", "enabled", "disabled"}
)


def plain_value(name: str, value: str) -> bool:
    """A value after a weak word (``WEAK_WORDS``) that cannot be a secret: a literal
    (``True``, ``None``, ``null``), digits only (``expected_pass=1234``), code (holds ``(``:
    ``device.create_render_pass(desc)``), or after ``PWD`` a path (``OLD_PWD=/home/x``)."""
    words = _WORD.findall(name)
    if not words or words[-1].upper() not in WEAK_WORDS:
        return False
    bare = value.strip("\\\"'")
    return (
        bare.lower() in LITERALS
        or bare.isdigit()
        or "(" in bare
        or (words[-1].upper() == "PWD" and bare.startswith(("/", "~")))
    )


def secret_assignment(match: re.Match[str]) -> bool:
    """The name says it holds a secret, and the value is not a reference (``$TOKEN``,
    ``${{ secrets.X }}``), nor already redacted, nor plain after a weak word (``plain_value``)."""
    value, name = match.group("value"), match.group("name")
    reference = value.lstrip("\\\"'").startswith("$")
    return (
        "[REDACTED:" not in value
        and not reference
        and looks_like_secret_name(name)
        and not plain_value(name, value)
    )


def wrapped_token(match: re.Match[str]) -> str:
    """A GitHub token cut over lines: its prefix, the rest of its line and as many following
    lines as it takes to make a whole token are replaced; what follows is kept."""
    prefix, head = match.group("prefix"), match.group("head")
    need = 22 if prefix == "github_pat_" else 36
    lines = re.split(r"(\r\n|\r|\n)", match.group("tail"))  # ['', sep, part, sep, part...]
    taken, used = len(head), 0
    for index in range(2, len(lines), 2):
        if taken >= need:
            break
        taken += len(lines[index].strip())
        used = index + 1
    return "[REDACTED:github-token]" + "".join(lines[used:])


def holds_a_secret(match: re.Match[str]) -> bool:
    """A base64 blob whose decoding holds a secret of a known shape (``ghp_...``, a key)."""
    value = match.group(0)
    try:
        raw = base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return False
    decoded = raw.decode("latin-1")
    return any(
        shape.applies(decoded, decoded.lower()) and shape.sub(decoded) != decoded
        for shape in SHAPES
        if shape.kind not in ("base64-secret", "secret")
    )


# -- the table ------------------------------------------------------------------------------------

_GH = "ghp_" + "a1B2" * 9
GITHUB_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")
SHAPES: tuple[Shape, ...] = (
    Shape(
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqh\n-----END PUBLIC KEY-----",
        ("PRIVATE KEY",),
    ),
    # actions/checkout's ``http.<url>.extraheader AUTHORIZATION: basic <base64>``, and any other
    # Basic credential.
    Shape(
        "basic-auth",
        re.compile(
            r"(?i)(?P<pre>authorization\\?[\"']?\s*+[:=]\s*+\\?[\"']?basic\s++)"
            rf"(?P<value>{_B64}{{6,}}+={{0,2}})"
        ),
        "Authorization: Basic " + b64("alice:pa55word"),
        "Authorization: Basic authentication is disabled",
        ("basic",),
        check=decodes_to_credentials,
    ),
    # The base64 of ``x-access-token:<token>`` on its own (outside a header).
    _prefixed(
        "basic-auth",
        rf"eC1hY2Nlc3MtdG9rZW46{_B64}{{8,}}={{0,2}}",
        "extraheader " + b64("x-access-token:ghs_" + "Q" * 36),
        "x-access-token: is the user name actions/checkout gives git",
        "eC1hY2Nlc3MtdG9rZW46",
    ),
    # ``Authorization: token ...`` (GitHub's own scheme) and ``Bot`` with any value holding a
    # digit (``token required`` is words); ``Bearer`` is ``bearer-token``.
    Shape(
        "auth-header",
        re.compile(
            r"(?i)(?P<pre>authorization\\?[\"']?\s*+[:=]\s*+\\?[\"']?(?:token|bot)\s++)"
            r"(?=[^\s\"',;]{0,200}[0-9])[^\s\"',;]{8,}+"
        ),
        "curl -H 'Authorization: token " + "0123abcd" * 5 + "'",
        "Authorization: token required for this endpoint",
        ("authorization",),
    ),
    _prefixed(
        "github-token",
        r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        _GH,
        "ghp_ tokens are classic personal access tokens",
        *GITHUB_PREFIXES,
    ),
    # A token a log or a terminal wrapped over lines (what is left after the shape above).
    Shape(
        "github-token",
        re.compile(
            _S + r"(?P<prefix>gh[pousr]_|github_pat_)(?P<head>[A-Za-z0-9_]{4,254}+)"
            r"(?P<tail>(?:(?:\r\n|\r|\n)[ \t]*+[A-Za-z0-9_]{1,255}+){1,8}+)"
        ),
        "token: ghp_" + "a1B2" * 4 + "\n  " + "c3D4" * 5,
        "ghp_ and gho_ prefixes\nname the kind of token",
        GITHUB_PREFIXES,
        replace=wrapped_token,
    ),
    _prefixed(
        "gitlab-token",
        r"gl(?:pat|ptt|dt|rt|soat|cbt|ft|imt|oas)-[A-Za-z0-9_\-]{20,}",
        "glpat-" + "xY3" * 7,
        "glpat- is the prefix of GitLab personal tokens",
        "gl",
    ),
    _prefixed(
        "anthropic-key",
        r"sk-ant-[A-Za-z0-9_\-]{20,}",
        "sk-ant-api03-" + "b" * 40,
        "sk-ant- keys",
        "sk-ant-",
    ),
    _prefixed(
        "openrouter-key",
        r"sk-or-v1-[A-Fa-f0-9]{32,}",
        "sk-or-v1-" + "0f" * 32,
        "sk-or-v1-short",
        "sk-or-",
    ),
    _prefixed(
        "openai-key",
        r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
        "sk-proj-" + "Ab3" * 10,
        "from sklearn import svm  # sk-learn",
        "sk-",
    ),
    _prefixed(
        "groq-key", r"gsk_[A-Za-z0-9]{20,}", "gsk_" + "Gq7" * 17, "gsk_ is Groq's prefix", "gsk_"
    ),
    _prefixed(
        "xai-key",
        r"xai-[A-Za-z0-9]{20,}",
        "xai-" + "Xa9" * 26,
        "xai-sdk 1.2 installed",
        "xai-",
    ),
    _prefixed(
        "perplexity-key",
        r"pplx-[A-Za-z0-9]{32,}",
        "pplx-" + "Pp4" * 16,
        "pplx-api docs",
        "pplx-",
    ),
    _prefixed(
        "replicate-token",
        r"r8_[A-Za-z0-9]{37}\b",
        "r8_" + "R" * 37,
        "r8_ is a tag",
        "r8_",
    ),
    _prefixed(
        "stripe-key",
        r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}",
        "sk_live_" + "4eC39HqLyjWD" * 2,
        "sk_live_ is Stripe's live prefix",
        "sk_",
        "rk_",
        "whsec_",
    ),
    _prefixed(
        "google-api-key",
        r"AIza[0-9A-Za-z_\-]{35}",
        "AIza" + "S" * 35,
        "AIza is the prefix of Google API keys",
        "AIza",
    ),
    _prefixed(
        "google-oauth",
        r"(?:GOCSPX-[A-Za-z0-9_\-]{20,}|ya29\.[A-Za-z0-9_\-]{20,})",
        "GOCSPX-" + "gh7" * 9,
        "ya29 release notes",
        "GOCSPX-",
        "ya29.",
    ),
    _prefixed(
        "aws-access-key",
        r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
        "AKIA" + "IOSFODNN7EXAMPLE",
        "AKIA is the prefix of AWS access key ids",
        "AKIA",
        "ASIA",
        "ABIA",
        "ACCA",
    ),
    # ``aws_secret_access_key = <40>``, ``AWS_SECRET_ACCESS_KEY <40>``, JSON ``"SecretAccessKey"``.
    Shape(
        "aws-secret-key",
        re.compile(
            r"(?i)(?P<pre>secret_?access_?key\\?[\"']?\s*+[:=]?\s*+\\?[\"']?)"
            r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
        "AWS_SECRET_ACCESS_KEY " + "wJalrXUtnFEMI/K7MDENG+bPxRfiCY" + "EXAMPLEKEY",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b is the secret_access_key fix",
        ("access",),
    ),
    Shape(
        "azure-storage-key",
        re.compile(rf"(?i)(?P<pre>(?:AccountKey|SharedAccessKey)\s*+=\s*+){_B64}{{20,}}={{0,2}}"),
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "Zm9v" * 20 + "==;",
        "AccountKey=${AZURE_STORAGE_KEY}",
        ("accesskey", "accountkey"),
    ),
    # A shared access signature in a URL or an error message (``...&sig=AbC%2Fd...%3D``).
    Shape(
        "azure-sas",
        re.compile(r"(?i)(?P<pre>(?<![A-Za-z0-9])sig=)[A-Za-z0-9%+/=]{16,}"),
        "403 for https://a.blob.core.windows.net/c/f?sv=2022-11-02&sig=" + "AbC%2Fd3" * 5,
        "signal=SIGTERM and sig=15",
        ("sig=",),
    ),
    # Azure OpenAI and Mistral keys are 32 characters with no prefix: only where a bare
    # ``key``, ``api-key`` or a subscription key names them (``AZURE_OPENAI_KEY=`` is an
    # assignment), or after ``--api-key``.
    Shape(
        "api-key",
        re.compile(
            r"(?i)(?P<pre>(?<![A-Za-z0-9_.\-])(?:(?:(?:api|subscription|ocp-apim-subscription)"
            r"[-_]?)?key\\?[\"']?\s*+[:=]\s*+\\?[\"']?|--(?:api-)?key[ =]))"
            r"(?P<value>[A-Za-z0-9]{32})(?![A-Za-z0-9])"
        ),
        '{"key": "' + "0123456789abcdef" * 2 + '"}',
        '{"key": "linux-pip-3f786850e387"}',
        ("key",),
    ),
    _prefixed(
        "slack-token",
        r"xox[abposre]-[A-Za-z0-9-]{10,}",
        "xoxb-123456789012-" + "abcdefghij",
        "xoxo, the team",
        "xox",
    ),
    _prefixed(
        "slack-token",
        r"xapp-\d-[A-Za-z0-9]+-\d+-[A-Za-z0-9]{16,}",
        "xapp-1-A0" + "12345678-1234567890123-" + "ab12" * 16,
        "xapp-config.yaml was loaded",
        "xapp-",
    ),
    Shape(
        "slack-webhook",
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
        "https://hooks.slack.com/services/" + "T000/B000/XXXXXXXX",
        "see https://api.slack.com/messaging/webhooks",
        ("hooks.slack.com",),
    ),
    Shape(
        "discord-webhook",
        re.compile(
            r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]+"
        ),
        "https://discord.com/api/webhooks/" + "123456789012345678/" + "aB-c_D" * 10,
        "https://discord.com/channels/123456789/987654321",
        ("/api/webhooks/",),
    ),
    _prefixed(
        "sendgrid-key",
        r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}",
        "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
        "SG.example.com resolved",
        "SG.",
    ),
    _prefixed(
        "mailgun-key",
        r"key-[0-9a-f]{32}\b",
        "key-" + "0123456789abcdef" * 2,
        "key-value store",
        "key-",
    ),
    _prefixed(
        "pypi-token",
        r"pypi-[A-Za-z0-9_\-]{50,}",
        "pypi-AgEIcHlwaS5vcmc" + "CJDU3" * 12,
        "pypi-publish action v1.8",
        "pypi-",
    ),
    _prefixed(
        "rubygems-key",
        r"rubygems_[0-9a-f]{48}\b",
        "rubygems_" + "0123456789abcdef" * 3,
        "rubygems_mfa_required: true",
        "rubygems_",
    ),
    _prefixed(
        "twilio-key",
        r"SK[0-9a-fA-F]{32}(?![0-9A-Za-z])",
        "SK" + "0123456789abcdef" * 2,
        "SKU 0123456789abcdef",
        "SK",
    ),
    _prefixed(
        "npm-token",
        r"npm_[A-Za-z0-9]{36}\b",
        "npm_" + "aB1" * 12,
        "npm_config_cache=/tmp/npm",
        "npm_",
    ),
    _prefixed(
        "docker-token",
        r"dckr_pat_[A-Za-z0-9_\-]{20,}",
        "dckr_pat_" + "Dk3" * 9,
        "dckr_pat_ tokens replace passwords",
        "dckr_pat_",
    ),
    # ``~/.docker/config.json``: ``"auth": "<base64 of user:password>"``, identity tokens.
    Shape(
        "docker-auth",
        re.compile(
            r"(?i)(?P<pre>\"(?:auth|identitytoken|registrytoken)\"\s*+:\s*+\")"
            rf"(?P<value>{_B64}{{8,}}+={{0,2}})(?=\")"
        ),
        '{"auths": {"ghcr.io": {"auth": "' + b64("bot:" + _GH) + '"}}}',
        '{"auths": {}, "credsStore": "desktop", "auth": "none"}',
        ('"auth', '"identitytoken"', '"registrytoken"'),
        check=lambda m: decodes_to_credentials(m) or "token" in m.group("pre").lower(),
    ),
    _prefixed(
        "huggingface-token",
        r"hf_[A-Za-z0-9]{30,}\b",
        "hf_" + "Kq" * 17,
        "hf_hub_download(repo_id='x')",
        "hf_",
    ),
    _prefixed(
        "shopify-token",
        r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b",
        "shpat_" + "0123456789abcdef" * 2,
        "shpat_ is Shopify's admin prefix",
        "shp",
    ),
    _prefixed(
        "digitalocean-token",
        r"do[opr]_v1_[a-f0-9]{64}\b",
        "dop_v1_" + "0123456789abcdef" * 4,
        "dop_v1_ tokens",
        "_v1_",
    ),
    _prefixed(
        "databricks-token",
        r"dapi[a-f0-9]{32}(?:-\d)?\b",
        "dapi" + "0123456789abcdef" * 2,
        "dapi is the Databricks API prefix",
        "dapi",
    ),
    _prefixed(
        "vault-token",
        r"hv[sbr]\.[A-Za-z0-9_\-]{24,}",
        "hvs." + "Hv5" * 9,
        "hvs.example.org",
        "hv",
    ),
    _prefixed(
        "age-secret-key",
        r"AGE-SECRET-KEY-1[0-9A-Z]{58}\b",
        "AGE-SECRET-KEY-1" + "QZ" * 29,
        "AGE-SECRET-KEY-1 starts an age identity",
        "AGE-SECRET-KEY-",
    ),
    _prefixed(
        "telegram-bot-token",
        r"\d{8,10}:AA[A-Za-z0-9_\-]{33}\b",
        "123456789:AA" + "Tg5" * 11,
        "at 12345678:AA the build stopped",
        ":AA",
    ),
    _prefixed(
        "grafana-token",
        r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b",
        "glsa_" + "Gr4" * 10 + "Gr" + "_" + "0a1b2c3d",
        "glsa_ service account tokens",
        "glsa_",
    ),
    _prefixed(
        "jwt",
        rf"eyJ[A-Za-z0-9_-]{{8,{JWT_HEADER}}}+\.eyJ[A-Za-z0-9_-]{{8,}}+\.[A-Za-z0-9_-]{{8,}}",
        "eyJhbGciOiJIUzI1NiJ9."
        + "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        'eyJ is how base64 of {" begins',
        "eyJ",
    ),
    Shape(
        "bearer-token",
        re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]{20,}+=*"),
        "Authorization: Bearer " + "abcDEF123456ghiJKL7890xyz",
        "the bearer of this message",
        ("bearer ",),
    ),
    Shape(
        "url-credentials",
        re.compile(r"(?<=://)[^/\s:@]{0,256}:[^/\s@]{1,256}(?=@)"),
        "postgres://app:" + "S3cretPass@db.internal:5432/x",
        "https://user@github.com/org/repo.git",
        ("://",),
    ),
    # A base64 blob whose decoding holds a secret (a token in ``user:token``, a config file).
    Shape(
        "base64-secret",
        re.compile(r"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/_\-]{24,}+={0,2}(?![A-Za-z0-9+/=])"),
        "config " + b64("registry=ghcr.io token=" + _GH),
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        check=holds_a_secret,
    ),
    # ``NAME=value``, ``"name": "value"``, ``x-api-key: value``, ``name%3Dvalue``: the name
    # decides (``looks_like_secret_name``), the value is hidden.
    Shape(
        "secret",
        re.compile(
            r"(?i)(?P<pre>(?<![A-Za-z0-9_.\-])"
            r"(?P<name>[A-Za-z0-9_.\-]{0,60}?"
            r"(?:TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASSPHRASE|PASS|PWD|PAT|AUTH|CREDENTIALS?|DSN))"
            r"\\?\"?'?\s*+(?:[=:]|%3D|%3A)\s*+)"
            r"(?P<value>\\?\"[^\"\n\\]{4,}+\\?\"|'[^'\n]{4,}+'|[^\s\"',;&]{4,}+)"
        ),
        "PGPASSWORD=hunter2-hunter2",
        "max_tokens=4096 and TOKEN_COUNT=12",
        ("token", "key", "secret", "pass", "pwd", "pat", "auth", "credential", "dsn"),
        check=secret_assignment,
    ),
)
