"""The call layer: how one LM request is made, whatever the call (reflection, curation, judge,
rewrite, root causes, revision), for every strategy.

Takes the resolved ``LLMSettings`` and builds ``CallingLM``, a ``dspy.LM`` that every call of a
run goes through; it returns the model's outputs, or raises ``CallLost`` (that call's loss,
never the run's) or a systemic DSPy error (a key refused, an endpoint that cannot be reached, an
unknown model), which ``trainer.translate_llm_errors`` turns into an ``LLMError``.

- **The output cap reaches the server.** DSPy 3.4's native client sends an OpenAI model's cap
  as ``max_completion_tokens``, which llama.cpp's server ignores (answers ran 7,000 tokens).
  With ``api_base`` set to anything but OpenAI's own API, ``openai/<model>`` is routed through
  a provider declared to DSPy's native client (``register_provider``, the documented way for an
  OpenAI-compatible server) whose wire sends ``max_tokens``, which OpenAI-compatible servers
  (llama.cpp, Ollama, vLLM, LM Studio) honour; OpenAI's reasoning models (``o3``, ``gpt-5``),
  which refuse ``max_tokens``, keep the OpenAI route. It keeps DSPy's own HTTP client: passing
  ``extra_body`` or headers instead would switch DSPy to LiteLLM.
- **The request fits the context.** With ``training.context_tokens`` set, each request's cap is
  lowered so that prompt and answer fit the model's context (the prompt estimated at three
  characters a token, on the safe side for small models' tokenizers); a request whose prompt
  alone leaves no room is not sent, and is lost with that reason.
- **Only read answers are cached.** DSPy's own response cache would keep an answer that could
  not be read and serve it again to a rerun ("retry the run" failing in 4 s). Here the cache
  (DSPy's disk cache, under our own keys) keeps each answer, and ``forget_last`` removes it
  when the caller could not read it.
- **Secrets.** Every request is sent with the secrets this process holds masked (``masked``,
  ``redact.mask_held``) in its prompt and every message's text.
- **Retries.** Rate limits, 5xx and dropped connections are retried ``retries`` times with the
  caller's backoff (or the provider's Retry-After). A time-out is not: a slow model is as slow
  the second time, so the call is lost with the fix (``training.llm_timeout_s``), and the
  abandoned request's connection is closed by the client (the server stops generating). Three
  calls in a row lost to the endpoint's own failures (``DOWN_AFTER``) stop the run: it is down.
  Every request sent counts against the budget, failed ones included (``failed``).
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any
from urllib.parse import urlsplit

import dspy
from dspy.lm15 import (
    AccessPolicy,
    EndpointSupport,
    OpenAIChatCompat,
    ProviderDefinition,
    register_provider,
)
from dspy.utils.exceptions import (
    LMAuthError,
    LMBillingError,
    LMConfigurationError,
    LMError,
    LMRateLimitError,
    LMServerError,
    LMTimeoutError,
    LMTransportError,
    LMUnsupportedModelError,
    is_retryable_lm_error,
)

from prompt_trainer.redact import mask_held
from prompt_trainer.settings import LLMSettings

#: Output tokens a call may use (LiteLLM's default of 4,096 truncates whole-file answers).
MAX_OUTPUT_TOKENS = 8_000
LM_RETRIES = 2
MAX_RETRY_WAIT_S = 60.0
#: Characters per token when fitting a request into the context: fewer than the usual four,
#: so that a small model's tokenizer (more tokens per word) does not overflow it.
CONTEXT_CHARS_PER_TOKEN = 3
#: Tokens per message for the chat template's framing.
MESSAGE_FRAMING_TOKENS = 8
#: Calls in a row the endpoint itself fails (time-outs, 5xx, rate limits) after which it is
#: taken as down and the run stops, rather than lose every call left (``systemic``).
DOWN_AFTER = 3
#: The least room for an answer worth asking for.
MIN_ANSWER_TOKENS = 256
#: The provider declared for OpenAI-compatible servers (``max_tokens`` on the wire).
ENDPOINT_PROVIDER = "openai-compatible-endpoint"
#: What is not part of an answer's cache key: where it was asked and with which credentials.
NOT_IN_CACHE_KEY = ["api_key", "api_base", "base_url", "timeout"]
#: Hosts that are OpenAI's own API, where ``max_completion_tokens`` is the right spelling.
OPENAI_HOSTS = ("api.openai.com",)
#: OpenAI's reasoning models refuse ``max_tokens`` (behind a gateway too): they keep the
#: OpenAI route and its ``max_completion_tokens``.
OPENAI_REASONING = re.compile(r"^(?:o\d|gpt-5)", re.IGNORECASE)


class CallLost(Exception):
    """One LM call gave nothing usable, for ``reason``; the run goes on without it.
    ``timed_out``: no answer came within ``training.llm_timeout_s``."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


def build_calling_lm(llm: LLMSettings, *, options: dict[str, Any]) -> CallingLM:
    """The run's LM: ``options`` (temperature, max_tokens) plus the endpoint's settings."""
    return CallingLM(
        routed_model(llm),
        api_base=llm.api_base,
        api_key=llm.api_key or ("unused" if llm.api_base else None),
        timeout=llm.timeout_s,
        retries=LM_RETRIES,
        backoff_s=llm.backoff_s,
        context_tokens=llm.context_tokens,
        **options,
    )


def routed_model(llm: LLMSettings) -> str:
    """The model id DSPy is given: ``openai/<m>`` at a server other than OpenAI's becomes the
    declared OpenAI-compatible provider's ``<id>/<m>`` (which sends ``max_tokens``)."""
    prefix, _, name = llm.model.partition("/")
    if prefix != "openai" or not name or not llm.api_base:
        return llm.model
    if (urlsplit(llm.api_base).hostname or "") in OPENAI_HOSTS or OPENAI_REASONING.match(name):
        return llm.model  # OpenAI itself, or its reasoning models behind a gateway
    _declare_endpoint_provider()
    return f"{ENDPOINT_PROVIDER}/{name}"


def _declare_endpoint_provider() -> None:
    """Declare the OpenAI-compatible provider once per process (the same declaration again is a
    no-op). Its base URL is a placeholder: every LM built here passes ``api_base``."""
    access = AccessPolicy(
        provider=ENDPOINT_PROVIDER,
        supports=EndpointSupport(complete=True, stream=True, models=True),
        auth_modes=("bearer",),
        base_url="http://localhost:8080/v1",
    )
    compat = OpenAIChatCompat(
        instruction_role="system", max_tokens_field="max_tokens", thinking_format="none"
    )
    register_provider(
        ProviderDefinition.chat(access, compat=compat, note="an OpenAI-compatible server"),
        # A model OpenAI's price table knows (a gateway in front of OpenAI) is priced from it;
        # a local model's name is not in it, and its cost stays unknown.
        metadata_namespaces=("openai",),
    )


class CallingLM(dspy.LM):  # type: ignore[misc]
    """A ``dspy.LM`` that fits each request into the context, caches only answers that were
    read, retries transient failures with the caller's backoff, and loses a call (``CallLost``)
    instead of the run."""

    def __init__(
        self,
        model: str,
        *,
        retries: int,
        backoff_s: float,
        context_tokens: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, num_retries=0, cache=False, **options)
        self.retries = retries
        self.backoff_s = backoff_s
        self.context_tokens = context_tokens
        #: Requests that failed: sent, so counted by the budget, but not in ``history``.
        self.failed = 0
        #: The calls lost on this LM, each "<which call> on <sample>: <why>; lost".
        self.lost: list[str] = []
        #: Requests the endpoint answered in this run (cached answers are not asked).
        self.answered = 0
        #: Calls in a row the endpoint itself failed (``systemic``: ``DOWN_AFTER`` is down).
        self.down = 0
        #: The last request: its cache key and messages (``forget_last``, the repair request).
        self.last_key: dict[str, Any] | None = None
        self.last_messages: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = masked(args, kwargs)
        messages = kwargs.get("messages")
        if not isinstance(messages, list):
            return self._send(*args, **kwargs)
        key = self._key(messages, kwargs)
        self.last_key, self.last_messages = key, messages
        cached = dspy.cache.get(key, NOT_IN_CACHE_KEY)
        if cached is not None:
            return list(cached)
        kwargs["max_tokens"] = self._output_cap(messages, kwargs.get("max_tokens"))
        outputs = self._send(*args, **kwargs)
        if _plain(outputs):
            dspy.cache.put(key, list(outputs), NOT_IN_CACHE_KEY)
        return outputs

    def copy(self, **kwargs: Any) -> CallingLM:
        """A copy (another candidate's LM) that starts with no failures and no losses."""
        copied: CallingLM = super().copy(**kwargs)
        copied.failed, copied.lost, copied.down = 0, [], 0
        return copied

    def forget_last(self) -> None:
        """Remove the last answer from the cache: it could not be read, and a rerun must ask
        again instead of being served it."""
        if self.last_key is None:
            return
        digest = dspy.cache.cache_key(self.last_key, NOT_IN_CACHE_KEY)
        with dspy.cache._lock:  # the cache's own lock, around its own dict
            dspy.cache.memory_cache.pop(digest, None)
        disk = dspy.cache.disk_cache
        if hasattr(disk, "delete"):
            disk.delete(digest)
        else:
            disk.pop(digest, None)

    def _key(self, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> dict[str, Any]:
        settings = {k: v for k, v in {**self.kwargs, **kwargs}.items() if k != "messages"}
        return {"_fn_identifier": "prompt_trainer.answer", "model": self.model,
                "messages": messages, **settings}  # fmt: skip

    def _output_cap(self, messages: list[dict[str, Any]], asked: int | None) -> int:
        """The request's ``max_tokens``: what was asked, lowered to fit the context."""
        cap = int(asked or self.kwargs.get("max_tokens") or MAX_OUTPUT_TOKENS)
        if self.context_tokens is None:
            return cap
        prompt = prompt_tokens(messages)
        room = self.context_tokens - prompt
        if room < MIN_ANSWER_TOKENS:
            raise CallLost(
                f"the request (about {prompt:,} tokens) leaves no room for an answer in the "
                f"model's context of {self.context_tokens:,} tokens (training.context_tokens); "
                "lower training.max_evidence_tokens or use a model with a longer context"
            )
        return min(cap, room)

    def _send(self, *args: Any, **kwargs: Any) -> Any:
        """One request with its retries; ``down`` counts the calls in a row that the endpoint
        itself failed (``endpoint_failure``), and an answer resets it."""
        try:
            outputs = self._attempts(*args, **kwargs)
        except Exception as exc:
            self.down = self.down + 1 if endpoint_failure(exc) else 0
            raise
        self.down = 0
        return outputs

    def _attempts(self, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(self.retries + 1):
            try:
                outputs = super().__call__(*args, **kwargs)
            except Exception as exc:
                self.failed += 1
                if timed_out(exc):
                    raise CallLost(
                        f"no answer within {self.kwargs.get('timeout'):g} s "
                        "(training.llm_timeout_s): a slow or local model needs more time; "
                        "raise training.llm_timeout_s, or lower training.context_tokens so "
                        "that answers are shorter",
                        timed_out=True,
                    ) from exc
                if not is_retryable_lm_error(exc) or attempt == self.retries:
                    raise
                time.sleep(retry_wait(exc, attempt, backoff_s=self.backoff_s))
            else:
                self.answered += 1
                return outputs
        raise AssertionError("unreachable: the last attempt returns or raises")


def masked(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A request with the secrets this process holds masked (``redact.mask_held``) in its
    prompt and every message's text: nothing the process holds reaches the provider."""
    if args and isinstance(args[0], str):
        args = (mask_held(args[0]), *args[1:])
    if isinstance(kwargs.get("prompt"), str):
        kwargs = {**kwargs, "prompt": mask_held(kwargs["prompt"])}
    if isinstance(kwargs.get("messages"), list):
        kwargs = {**kwargs, "messages": [_masked_message(m) for m in kwargs["messages"]]}
    return args, kwargs


def _masked_message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": mask_held(content)}
    if isinstance(content, list):  # parts: {"type": "text", "text": ...}
        parts = [
            {**p, "text": mask_held(p["text"])}
            if isinstance(p, dict) and isinstance(p.get("text"), str)
            else p
            for p in content
        ]
        return {**message, "content": parts}
    return message


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The request's prompt in tokens, estimated on the safe side."""
    chars = sum(len(str(m.get("content") or "")) for m in messages)
    return math.ceil(chars / CONTEXT_CHARS_PER_TOKEN) + MESSAGE_FRAMING_TOKENS * len(messages)


def timed_out(exc: BaseException) -> bool:
    """Whether a failure is a time-out: DSPy reports lm15's read time-out as a transport
    error, with the socket's time-out as its cause."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, LMTimeoutError | TimeoutError) or "Timeout" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def endpoint_failure(exc: BaseException) -> bool:
    """A failure of the endpoint itself, not of one request: a time-out, a 5xx, a dropped
    connection or a rate limit that outlived the retries."""
    if isinstance(exc, CallLost):
        return exc.timed_out
    return isinstance(exc, LMTransportError | LMServerError | LMRateLimitError | LMTimeoutError)


def systemic(exc: BaseException, *, answered: int, down: int = 0) -> bool:
    """Whether an LM failure stops the run rather than one call: the key or the billing
    refused, the endpoint unreachable, an unknown model, a configuration DSPy refuses; and a
    time-out, a 5xx or a rate limit that outlived the retries before the endpoint answered
    anything in this run (``answered`` = 0), or for the ``DOWN_AFTER``-th call in a row
    (``down``): the endpoint is down or far too slow, and every call left would wait for
    nothing and be lost. Any other failure of a call (a 400 such as a context length exceeded;
    a time-out or a 5xx once the endpoint has answered, now and then) is that call's loss."""
    if endpoint_failure(exc) and down >= DOWN_AFTER:
        return True
    if isinstance(exc, CallLost):
        return exc.timed_out and not answered
    if isinstance(exc, LMTransportError | LMServerError | LMRateLimitError | LMTimeoutError):
        return not answered or (isinstance(exc, LMTransportError) and not timed_out(exc))
    return isinstance(
        exc, LMAuthError | LMBillingError | LMUnsupportedModelError | LMConfigurationError
    )


def why_lost(exc: BaseException) -> str:
    """A lost call's reason in one line: the status and the server's words."""
    if isinstance(exc, CallLost):
        return exc.reason
    status = getattr(exc, "status", None)
    message = getattr(exc, "message", None) or str(exc)
    first = " ".join(str(message).split())[:300]
    kind = "the endpoint refused the request" if isinstance(exc, LMError) else "the call failed"
    return f"{kind}{f' (HTTP {status})' if status else ''}: {first}"


def retry_wait(exc: Exception, attempt: int, *, backoff_s: float) -> float:
    """The provider's Retry-After when it sent one, else ``backoff_s x 2^(attempt+1)``."""
    hint = getattr(exc, "retry_after", None)
    if isinstance(hint, int | float) and math.isfinite(hint) and hint >= 0:
        return min(float(hint), MAX_RETRY_WAIT_S)
    return min(backoff_s * 2.0 ** (attempt + 1), MAX_RETRY_WAIT_S)


def _plain(outputs: Any) -> bool:
    """Outputs that are plain data (text, or dicts of JSON values), safe to cache."""
    try:
        json.dumps(outputs)
    except (TypeError, ValueError):
        return False
    return isinstance(outputs, list)
