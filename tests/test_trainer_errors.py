"""DSPy and LiteLLM failures become an ``LLMError`` that names the fix; other errors pass."""

from __future__ import annotations

import pytest
from dspy.utils.exceptions import DSPyError, LMAuthError, LMTransportError

from prompt_trainer.errors import LLMError
from prompt_trainer.settings import LLMSettings
from prompt_trainer.train.trainer import translate_llm_errors

LLM = LLMSettings(model="openai/m", api_base="http://127.0.0.1:1")


@pytest.mark.parametrize(
    ("raised", "message", "fix"),
    [
        (LMAuthError("401"), "rejected the credentials for openai/m", "check OPENAI_API_KEY"),
        (
            LMTransportError("refused"),
            "cannot reach the LLM endpoint for openai/m: refused",
            "--api-base",
        ),
        (DSPyError("boom"), "the LLM call failed: boom", "retry the run"),
    ],
)
def test_a_dspy_failure_becomes_an_llm_error_with_its_fix(
    raised: Exception, message: str, fix: str
) -> None:
    with pytest.raises(LLMError) as caught, translate_llm_errors(LLM):
        raise raised
    assert message in caught.value.message
    assert fix in (caught.value.fix or "")
    assert caught.value.__cause__ is raised


def test_any_other_error_passes_through_unchanged() -> None:
    with pytest.raises(KeyError) as caught, translate_llm_errors(LLM):
        raise KeyError("not the model's")
    assert caught.value.args == ("not the model's",)
