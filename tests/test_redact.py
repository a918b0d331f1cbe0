"""Secret redaction: known shapes are replaced, look-alikes are left alone."""

from __future__ import annotations

import pytest

from prompt_trainer.redact import excerpt, redact

SECRETS = [
    ("ghp_" + "a1B2" * 9, "github-token"),
    ("gho_" + "Z9" * 18, "github-token"),
    ("ghs_" + "x" * 36, "github-token"),
    ("ghu_" + "Q" * 36, "github-token"),
    ("github_pat_11ABCDEFG0" + "a" * 40, "github-token"),
    ("sk-proj-" + "Ab3" * 10, "openai-key"),
    ("sk-" + "a" * 48, "openai-key"),
    ("sk-ant-api03-" + "b" * 40, "anthropic-key"),
    ("sk-or-v1-" + "0f" * 32, "openrouter-key"),
    ("AIza" + "S" * 35, "google-api-key"),
    ("AKIAIOSFODNN7EXAMPLE", "aws-access-key"),
    ("xoxb-123456789012-abcdefghij", "slack-token"),
    (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "jwt",
    ),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "private-key"),
]


@pytest.mark.parametrize(("secret", "kind"), SECRETS)
def test_secret_shapes_are_replaced(secret: str, kind: str) -> None:
    text = redact(f"before {secret} after")
    assert secret not in text and f"[REDACTED:{kind}]" in text


@pytest.mark.parametrize(
    "line",
    [
        "GITHUB_TOKEN=abcd1234efgh",
        "DB_PASSWORD: 'hunter22'",
        "export AWS_SECRET=zzzzzzzz",
        "api_key = s3cr3tvalue",
    ],
)
def test_assignments_hide_the_value(line: str) -> None:
    assert "[REDACTED:" in redact(line)


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
    ],
)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


def test_excerpt_caps_after_redacting() -> None:
    assert excerpt("x" * 50, 30).startswith("x" * 10) and "chars cut" in excerpt("x" * 50, 30)
