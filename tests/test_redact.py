"""Secret redaction: known shapes are replaced, look-alikes are left alone."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from prompt_trainer.redact import (
    NAME_CHARS,
    SHAPES,
    Shape,
    clean_name,
    excerpt,
    hold,
    mask_held,
    redact,
)
from prompt_trainer.settings import Settings


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Built by concatenation so that no literal secret sits in the repository.
SECRETS = [
    ("ghp_" + "a1B2" * 9, "github-token"),
    ("gho_" + "Z9" * 18, "github-token"),
    ("ghs_" + "x" * 36, "github-token"),
    ("ghu_" + "Q" * 36, "github-token"),
    ("ghr_" + "7k" * 18, "github-token"),
    ("github_pat_11ABCDEFG0" + "a" * 40, "github-token"),
    ("glpat-" + "xY3" * 7, "gitlab-token"),
    ("sk-proj-" + "Ab3" * 10, "openai-key"),
    ("sk-" + "a" * 48, "openai-key"),
    ("sk-svcacct-" + "Q1w" * 10, "openai-key"),
    ("sk-admin-" + "Z0" * 15, "openai-key"),
    ("sk-ant-api03-" + "b" * 40, "anthropic-key"),
    ("sk-ant-admin01-" + "c9" * 20, "anthropic-key"),
    ("sk-or-v1-" + "0f" * 32, "openrouter-key"),
    ("sk_live_" + "4eC39HqLyjWD" * 2, "stripe-key"),
    ("AIza" + "S" * 35, "google-api-key"),
    ("GOCSPX-" + "gh7" * 9, "google-oauth"),
    ("ya29." + "a0AfH6" * 6, "google-oauth"),
    ("AKIA" + "IOSFODNN7EXAMPLE", "aws-access-key"),
    ("ASIA" + "Y34FZKBOKMUTVV7A", "aws-access-key"),
    ("xoxb-123456789012-" + "abcdefghij", "slack-token"),
    ("xoxp-" + "1234-5678-abcdef0123", "slack-token"),
    ("https://hooks.slack.com/services/" + "T000/B000/XXXXXXXX", "slack-webhook"),
    ("npm_" + "aB1" * 12, "npm-token"),
    ("hf_" + "Kq" * 17, "huggingface-token"),
    (
        "eyJhbGciOiJIUzI1NiJ9."
        + "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "jwt",
    ),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "private-key"),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
        "private-key",
    ),
    ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----", "private-key"),
    (
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBO\n-----END ENCRYPTED PRIVATE KEY-----",
        "private-key",
    ),
    (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
        "private-key",
    ),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN (truncated log)", "private-key"),
    ("Authorization: Bearer " + "abcDEF123456ghiJKL7890xyz", "bearer-token"),
    ("postgres://app:" + "S3cretPass@db.internal:5432/x", "url-credentials"),
    ("redis://:" + "hunter2hunter2@cache:6379", "url-credentials"),
    # What actions/checkout writes into git config (http.https://github.com/.extraheader).
    ("AUTHORIZATION: basic " + b64("x-access-token:ghs_" + "k" * 36), "basic-auth"),
    ("Authorization: Basic " + b64("alice:pa55word"), "basic-auth"),
    ("-H 'authorization: basic " + b64("user:s3cret") + "'", "basic-auth"),
    ("extraheader " + b64("x-access-token:ghs_" + "Q" * 36), "basic-auth"),
    (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "Zm9v" * 20 + "==;",
        "azure-storage-key",
    ),
    (
        "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey=" + "YmFy" * 10 + "=",
        "azure-storage-key",
    ),
    (
        "403 for https://a.blob.core.windows.net/c/f?sv=2022-11-02&sig=" + "AbC%2Fd3" * 5 + "%3D",
        "azure-sas",
    ),
    ("AuthenticationFailed: sig=" + "q7Lm9" * 8, "azure-sas"),
    (
        '{"SecretAccessKey": "' + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY" + '"}',
        "aws-secret-key",
    ),
    ("AWS_SECRET_ACCESS_KEY " + "wJalrXUtnFEMI/K7MDENG+bPxRfiCY" + "EXAMPLEKEY", "aws-secret-key"),
    ("xapp-1-A0" + "12345678-1234567890123-" + "ab12" * 16, "slack-token"),
    (
        "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
        "sendgrid-key",
    ),
    ("pypi-AgEIcHlwaS5vcmc" + "CJDU3" * 12, "pypi-token"),
    (
        "https://discord.com/api/webhooks/" + "123456789012345678/" + "aB-c_D" * 10,
        "discord-webhook",
    ),
    ("SK" + "0123456789abcdef" * 2, "twilio-key"),
    # Glued to an URL-encoded "=" (no word boundary before the prefix).
    ("redirect?state%3D" + "ghp_" + "u7" * 18, "github-token"),
    ("cb?key%3D" + "sk-proj-" + "Zx9" * 10, "openai-key"),
    ("q=1&t=" + "AKIA" + "ABCDEFGHIJKLMNOP", "aws-access-key"),
    # Issue 24's further shapes: provider keys, headers, config files, environment variables.
    ("GROQ_API_KEY is gsk_" + "Gq7" * 17, "groq-key"),
    ("xai-" + "Xa9" * 26, "xai-key"),
    ("curl --api-key " + "0123456789abcdef" * 2, "api-key"),
    ("Ocp-Apim-Subscription-Key: " + "a1b2c3d4" * 4, "api-key"),
    ('"key": "' + "Mi5tRaL" * 4 + "Mist" + '"', "api-key"),
    ("Authorization: token " + "0123456789abcdef0123" * 2, "auth-header"),
    ("Authorization: Bot " + "MTIzNDU2Nzg5MDEy.Gx" + "ab12" * 8, "auth-header"),
    ('{"auths": {"ghcr.io": {"auth": "' + b64("octocat:hunter2-hunter2") + '"}}}', "docker-auth"),
    ('{"identitytoken": "' + "ZXlKaGJHY2lPaUpT" * 3 + '"}', "docker-auth"),
    ("dckr_pat_" + "Dk3" * 9, "docker-token"),
    ("GH_PAT=" + "ghp_" + "P4t" * 12, "github-token"),
    ("ghp_" + "a1B2" * 3 + "\n" + "c3D4" * 6, "github-token"),  # wrapped by a log
    ("ghp_" + "a1B2" * 2 + "\r\n    " + "c3D4" * 4 + "\n    " + "e5F6" * 3, "github-token"),
    ("echo " + b64("ghp_" + "B64x" * 9), "base64-secret"),
    ("pass " + b64("user:" + "ghp_" + "B64y" * 9), "base64-secret"),
    ("whsec_" + "Wh5" * 9, "stripe-key"),
    ("shpat_" + "0123456789abcdef" * 2, "shopify-token"),
    ("doo_v1_" + "fedcba9876543210" * 4, "digitalocean-token"),
    ("dapi" + "fedcba9876543210" * 2 + "-2", "databricks-token"),
    ("hvs." + "CAESI" * 6, "vault-token"),
    ("r8_" + "Rp" * 18 + "R", "replicate-token"),
    ("key-" + "fedcba9876543210" * 2, "mailgun-key"),
    ("glptt-" + "Tr1" * 7, "gitlab-token"),
    ("xoxe.xoxp-1-" + "Re" * 10, "slack-token"),
]
#: ``NAME=value`` shapes (the value is hidden, the name is kept).
ASSIGNMENTS = [
    "GITHUB_TOKEN=abcd1234efgh",
    "DB_PASSWORD: 'hunter22'",
    "export AWS_SECRET=zzzzzzzz",
    "api_key = s3cr3tvalue",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    '"password": "correct horse battery"',
    "OPENAI_API_KEY=not-a-known-shape-1234",
    "STRIPE_WEBHOOK_SECRET='whsec_abcdefgh'",
    "MYSQL_ROOT_PASSWD=toor1234",
    '{"apiKey": "k3y-value-123"}',
    "accessToken: abcdefgh12345",
    "clientSecret=shhh-very-secret",
    "x-api-key: 0123456789abcdef",
    "X-Auth-Token: tok-42-tok-42",
    "https://api.example.com/v1?access_token%3Dabcdef123456",
    "https://api.example.com/v1?a=1&api_key=zzzz9999&b=2",
    '\\"clientSecret\\": \\"json-in-json-1\\"',
    "PGPASSWORD=hunter2 psql -h db",
    "export GH_PAT=pat-value-123",
    "MYSQL_PWD=toor1234",
    "_auth = " + b64("npm:s3cr3t"),
    "GOOGLE_APPLICATION_CREDENTIALS=/home/runner/gcp.json",
    "registry_auth: Zm9vOmJhcg",
    # Endings a deny-list of words missed (issue 24's review).
    "FOO_APIKEY=Zx81kq0PmW3vT7yB",
    "DB_PASS=Zx81kq0PmW3vT7yB",
    "SENTRY_DSN=https://0123456789abcdef@o42.ingest.sentry.io/7",
    "DATABASE_URL=postgres://app:Zx81kq0PmW3vT7yB@db.internal:5432/x",
    "passphrase=correct-horse-battery",
    "DB_PASSPHRASE=correct-horse-battery",
    # A weak word's value that could be a secret is still hidden.
    "DB_PASS=Truex81kq0PmW",
    "MYSQL_PWD=hunter2x",
    "use_pat: ghp-not-a-known-shape",
]


def hidden(example: str) -> str:
    """The part of ``example`` that ``redact`` replaces (between what it keeps on each side)."""
    redacted = redact(example)
    start = common(example, redacted)
    end = common(example[start:][::-1], redacted[start:][::-1])
    return example[start : len(example) - end]


def common(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` share at their start."""
    return next(
        (n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.kind}:{s.example[:12]}")
def test_every_shape_replaces_its_example_and_keeps_its_look_alike(shape: Shape) -> None:
    redacted = redact(f"before {shape.example} after")
    assert f"[REDACTED:{shape.kind}]" in redacted
    assert len(hidden(shape.example)) >= 8 and hidden(shape.example) not in redacted
    assert redact(shape.look_alike) == shape.look_alike


#: Ways a log or an attacker splits a secret so no pattern sees it whole.
SPLITTERS = {
    "zero-width space": "\u200b",
    "zero-width joiner": "\u200d",
    "word joiner": "\u2060",
    "soft hyphen": "\u00ad",
    "bidi override": "\u202e",
    "ANSI colour": "\x1b[31m",
    "ANSI reset": "\x1b[0m",
}


@pytest.mark.parametrize("splitter", sorted(SPLITTERS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.kind}:{s.example[:12]}")
def test_a_secret_split_by_invisible_characters_or_ansi_codes_is_still_replaced(
    shape: Shape, splitter: str
) -> None:
    secret = hidden(shape.example)
    middle = len(secret) // 2
    split = shape.example.replace(secret, secret[:middle] + SPLITTERS[splitter] + secret[middle:])
    assert f"[REDACTED:{shape.kind}]" in redact(split)


def test_the_kinds_are_listed_in_the_security_docs() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "security.md").read_text()
    kinds = {s.kind for s in SHAPES} | {"held-secret"}
    missing = sorted(kinds - set(re.findall(r"`([a-z0-9-]+)`", docs)))
    assert missing == []


@pytest.mark.parametrize(("secret", "kind"), SECRETS)
def test_secret_shapes_are_replaced(secret: str, kind: str) -> None:
    text = redact(f"before {secret} after")
    assert secret not in text and f"[REDACTED:{kind}]" in text


@pytest.mark.parametrize("line", ASSIGNMENTS)
def test_assignments_hide_the_value(line: str) -> None:
    value = line.split("=", 1)[-1] if "=" in line else line.split(":", 1)[-1]
    redacted = redact(line)
    assert "[REDACTED:" in redacted and value.strip(" '\"") not in redacted


def test_credentials_in_urls() -> None:
    assert (
        redact("git clone https://bot:pa55word@github.com/x")
        == "git clone https://[REDACTED:url-credentials]@github.com/x"
    )


@pytest.mark.parametrize(
    "text",
    [
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "key=value1",
        "the token is missing",
        "monkey: banana",
        "sha512-9q2Kx5mIgkxGn1lJtMZGMqWvAzpOQ+PRlL2nfG2R5HzpXhN9YxOWDb8lbXLAb7pc3nMzOUiP5BTf3o/Yd0cg==",
        "docker.io/library/python@sha256:9d0d0a2e4f9b5f1c8e3a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e",
        "max_tokens=4096 and TOKEN_COUNT=12",
        "cache_key: v1-deps-3f786850e387550fdab836ed7e6dc881",
        "password: ${{ secrets.DB_PASSWORD }}",
        "env: GITHUB_TOKEN: $GITHUB_TOKEN",
        "from sklearn import svm  # sk-learn",
        "AKIA is the prefix of AWS access key ids",
        "ghp_ tokens are classic personal access tokens",
        'ETag: W/"5e8f4b2a7c1d9e3f6a0b8c2d4e6f8a0b"',
        "https://user@github.com/org/repo.git",
        # Look-alikes of the newer kinds.
        'WWW-Authenticate: Basic realm="api"',
        "Authorization: Basic authentication is disabled",
        "a basic configuration works",
        "AccountKey=${AZURE_STORAGE_KEY}",
        "aws_secret_access_key = ${{ secrets.AWS_SECRET_ACCESS_KEY }}",
        '"SecretAccessKey": "$(aws configure get aws_secret_access_key)"',
        "commit 3f786850e387550fdab836ed7e6dc881de23001b is the secret_access_key fix",
        "xapp-config.yaml was loaded",
        "SG.example.com resolved",
        "pypi-publish action v1.8",
        "https://discord.com/channels/123456789/987654321",
        "TASK0123456789abcdef0123456789abcdef",
        "SKU 0123456789abcdef",
        "signal=SIGTERM and sig=15",
        "apiKey: ${{ secrets.API_KEY }}",
        "cacheKey: v1-node-3f786850e387",
        "x-cache-key: linux-pip-9d0d0a2e4f9b",
        "publicKey: ssh-ed25519-AAAAC3NzaC1lZDI1NTE5",
        "Idempotency-Key: 123e4567-e89b-12d3-a456-426614174000",
        '"inputTokens": 12345, "max_tokens": 4096',
        "tokenizer: cl100k_base",
        "keyboard: layout-us",
        "restore-keys: linux-pip-",
        "secrets: inherit",
        "PWD=/home/runner/work",
        "PASSTHROUGH=enabled",
        "BYPASS_CACHE=always",
        "DSN_TIMEOUT_MS=5000",
        # Flags, counters and code after PASS/PWD/DSN/PAT/AUTH (issue 24's third review).
        "should_pass = True",
        "all_pass: true",
        "render_pass = device.create_render_pass(desc)",
        "expected_pass=1234 got 1200",
        "first_pass: compute_layout()",
        "sentry_dsn: None",
        "current_pwd = os.getcwd()",
        "OLD_PWD=/home/runner/work",
        "use_pat: false",
        "jwt_auth: True",
        "secure_auth: enabled",
        "API_URL=https://api.example.com/v1",
        "sha256%3De3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ],
)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


def test_a_secret_in_a_name_is_redacted_and_a_long_name_capped() -> None:
    assert clean_name("test_login[ghp_" + "a" * 36 + "]") == "test_login[[REDACTED:github-token]]"
    long_a, long_b = clean_name("t" * 1_000 + "a" * 9_000), clean_name("t" * 1_000 + "b" * 9_000)
    assert len(long_a) == NAME_CHARS and long_a != long_b and "…" in long_a
    assert clean_name("tests.test_fees::test_rounding") == "tests.test_fees::test_rounding"


def test_excerpt_caps_after_redacting() -> None:
    assert excerpt("x" * 50, 30).startswith("x" * 10) and "chars cut" in excerpt("x" * 50, 30)


# -- secrets the process holds, masked by value ---------------------------------------------------

HELD_TOKEN = "ghs_" + "H3ld" * 9
HELD_KEY = "c0rp-" + "Zq7" * 10  # a provider key of no known shape


@pytest.fixture
def holding() -> Iterator[None]:
    hold([HELD_TOKEN, HELD_KEY, "production", "abc123"])
    yield
    hold(())


def wrap(text: str, at: int) -> str:
    return text[:at] + "\n    " + text[at:]


HELD_FORMS: dict[str, Callable[[str], str]] = {
    "as is": lambda v: f"token {v} end",
    "checkout's extraheader": lambda v: "AUTHORIZATION: basic " + b64(f"x-access-token:{v}"),
    "docker auth": lambda v: '{"auth": "' + b64(f"octocat:{v}") + '"}',
    "base64 at offset 1": lambda v: "blob " + b64(f"a{v}z"),
    "base64 at offset 2": lambda v: "blob " + b64(f"ab{v}yz"),
    "base64url": lambda v: "blob " + base64.urlsafe_b64encode(f"::{v}".encode()).decode(),
    "percent-encoded": lambda v: "url?t=" + quote(v, safe=""),
    "wrapped by a log": lambda v: wrap(f"token {v} end", 12),
    "split by a zero-width space": lambda v: v[:9] + "\u200b" + v[9:],
    "split by an ANSI colour": lambda v: v[:9] + "\x1b[1;31m" + v[9:],
}


@pytest.mark.parametrize("form", sorted(HELD_FORMS))
@pytest.mark.parametrize("value", [HELD_TOKEN, HELD_KEY], ids=["token", "key"])
def test_a_held_secret_is_masked_whatever_form_it_takes(
    holding: None, value: str, form: str
) -> None:
    text = redact(HELD_FORMS[form](value))
    assert "[REDACTED:" in text
    for piece in (value, b64(value)[:-4], value[:12], value[-12:]):
        assert piece not in text


def test_short_values_and_plain_words_are_not_held(holding: None) -> None:
    assert redact("deploy to production with abc123") == "deploy to production with abc123"


def test_settings_hold_the_token_the_key_and_every_variable_named_like_a_secret(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.yml"
    config.write_text("targets: [{name: coder, main: CLAUDE.md}]\n")
    env = {
        "GITHUB_TOKEN": "gh-" + "T0ken" * 4,
        "OPENAI_API_KEY": "k-" + "Pr0v1der" * 3,
        "PGPASSWORD": "pg-" + "Passw0rd" * 2,
        "GH_PAT": "pat-" + "Acc3ss" * 3,
        "MY_SERVICE_SECRET": "s-" + "Shh1" * 5,
        "FOO_APIKEY": "Zx81kq0PmW3vT7yB",
        "DB_PASS": "Pq72mz0RnW3vT8xC",
        "MYSQL_PWD": "Mq72mz0RnW3vT8xD",
        "SENTRY_DSN": "https://0123456789abcdef@o42.ingest.sentry.io/7",
        "DATABASE_URL": "postgres://app:Dz72mz0RnW3vT8xE@db.internal:5432/x",
        "HOME": "/home/runner/work",
        "PASSTHROUGH": "enabled-for-all",
        "BYPASS_CACHE": "always-on-here",
        "API_URL": "https://api.example.com/v1",
    }
    kept = {"HOME", "PASSTHROUGH", "BYPASS_CACHE", "API_URL"}
    try:
        Settings.load(config, env, root=tmp_path)
        for name, value in env.items():
            masked = redact(f"{name} is {value}") == f"{name} is {value}"
            assert masked is (name in kept), name
        # the password of a URL's userinfo is held apart from the URL too
        assert redact("psql with Dz72mz0RnW3vT8xE") == "psql with [REDACTED:held-secret]"
        assert mask_held("pg-" + "Passw0rd" * 2) == "[REDACTED:held-secret]"
    finally:
        hold(())
