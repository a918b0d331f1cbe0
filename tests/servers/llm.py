"""A local OpenAI-compatible chat-completions server with scripted replies.

DSPy talks to it over a real socket through ``api_base``. Each request is recorded (so tests can
count LM calls and inspect what was sent); each reply comes from the ``script``: a list of
callables taking the request JSON and returning the assistant's text (or a ``Refusal``: an HTTP
error with a body; or ``HOLD``: no answer until the client hangs up), used in order (the last one repeats). ``chat_adapter_reply`` builds replies
in DSPy's ChatAdapter field format.

``context_tokens`` makes it a llama.cpp server with that ``--ctx-size``: a prompt longer than the
context is refused with llama.cpp's 400 (``exceed_context_size_error``), and an answer is cut at
``max_tokens`` (``finish_reason: length``), the one output cap llama.cpp honours
(``max_completion_tokens`` is ignored, as llama.cpp ignores it). Tokens are four characters.
``slow_next`` requests are held until the client hangs up (``abandoned`` counts them), as a
server generating a long answer: a test of a time-out never races the machine's speed.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.sockets import QuietServer, wait_for_hangup


@dataclass(frozen=True)
class Refusal:
    """A scripted HTTP error: the status and the error body's message (and type)."""

    status: int
    message: str
    type: str = "invalid_request_error"


class Hold:
    """A scripted reply that never comes: the request is held until the client hangs up."""


#: Script a request to be held until its client gives up (a model still generating).
HOLD = Hold()
Reply = Callable[[dict[str, Any]], "str | Refusal | Hold"]
#: Characters per token, for usage and the emulated context.
CHARS_PER_TOKEN = 4


def chat_adapter_reply(**fields: Any) -> str:
    """``[[ ## name ## ]]`` blocks for each field, values JSON-encoded unless strings."""
    parts = []
    for name, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f"[[ ## {name} ## ]]\n{text}")
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


def by_signature(**replies: Reply) -> Reply:
    """One reply per DSPy signature, chosen by an output field the request's system message
    names (``what_went_wrong=...`` answers Reflect, ``edits=...`` Curate, ``rules=...``
    RootCauses, ``candidate_main_prompt=...`` PromptTrainer)."""

    def reply(request: dict[str, Any]) -> str | Refusal | Hold:
        system = str(request["messages"][0].get("content", ""))
        for field_name, answer in replies.items():
            if f"[[ ## {field_name} ## ]]" in system:
                return answer(request)
        raise AssertionError(f"no scripted reply for this signature: {system[:300]}")

    return reply


def any_signature(request: dict[str, Any]) -> str:
    """A readable answer to whatever DSPy signature asked: every output field the system
    message lists, answered ``[]`` (nothing to report, nothing to change)."""
    system = str(request["messages"][0].get("content", ""))
    block = system.split("Your output fields are:", 1)[-1].split("All interactions", 1)[0]
    names = re.findall(r"^\d+\. `(\w+)`", block, flags=re.MULTILINE)
    return chat_adapter_reply(**dict.fromkeys(names, "[]"))


def user_text(request: dict[str, Any]) -> str:
    """The last user message (where DSPy puts the inputs)."""
    return str(request["messages"][-1].get("content", ""))


class FakeLLM:
    """Serves ``POST /v1/chat/completions``; records requests; replies from the script."""

    def __init__(self, script: list[Reply] | None = None) -> None:
        self.script: list[Reply] = script or []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        #: The next ``fail_next`` requests answer ``fail_status`` (then ``status`` again).
        self.fail_next = 0
        self.fail_status = 500
        #: The next ``slow_next`` requests are held until the client hangs up (or ``slow_s``
        #: seconds pass, a safety net), like a slow model still generating.
        self.slow_next = 0
        self.slow_s = 60.0
        self.slow_finished = False  # set when a slow answer was finally sent
        #: Held requests whose client hung up (gave up and closed the connection).
        self.abandoned = 0
        self.hung_up = threading.Event()
        self.arrived = 0  # requests received, counted on arrival
        #: llama.cpp's --ctx-size: longer prompts are refused, answers cut at max_tokens.
        self.context_tokens: int | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.server = self._serve()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def reply(
        self, request: dict[str, Any], connection: socket.socket | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        """The status and body for ``request``; None when the client hung up on a held one."""
        with self._lock:
            self.arrived += 1
            slow = self.slow_next > 0
            self.slow_next -= 1 if slow else 0
        if slow and self._abandoned(connection):
            return None
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
            status = self.status
            if self.fail_next > 0:
                self.fail_next -= 1
                status = self.fail_status
            if status != 200:
                return status, {"error": {"message": "scripted failure", "type": "server_error"}}
            step = self.script[min(index, len(self.script) - 1)]
        too_long = self._over_context(request)
        content = too_long or step(request)
        if isinstance(content, Hold):
            return None if self._abandoned(connection) else (500, {"error": {"message": "held"}})
        if isinstance(content, Refusal):
            return content.status, {"error": {"code": content.status, "message": content.message,
                                              "type": content.type}}  # fmt: skip
        return 200, self._completion(request, index, content)

    def _abandoned(self, connection: socket.socket | None) -> bool:
        """Hold the request like a model still generating; True when the client hung up."""
        if connection is not None and wait_for_hangup(
            connection, limit_s=self.slow_s, stop=self._stopped
        ):
            with self._lock:
                self.abandoned += 1
            self.hung_up.set()
            return True
        self.slow_finished = True
        return False

    def _over_context(self, request: dict[str, Any]) -> Refusal | None:
        """llama.cpp's answer to a prompt longer than its context."""
        if self.context_tokens is None:
            return None
        prompt = sum(len(str(m.get("content", ""))) for m in request["messages"])
        tokens = prompt // CHARS_PER_TOKEN
        if tokens <= self.context_tokens:
            return None
        return Refusal(
            400,
            f"the request exceeds the available context size ({tokens} tokens > "
            f"{self.context_tokens}), try increasing it",
            "exceed_context_size_error",
        )

    def _completion(self, request: dict[str, Any], index: int, content: str) -> dict[str, Any]:
        finish = "stop"
        cap = request.get("max_tokens")
        if self.context_tokens is None:  # llama.cpp ignores max_completion_tokens; OpenAI not
            cap = cap or request.get("max_completion_tokens")
        if isinstance(cap, int) and len(content) > cap * CHARS_PER_TOKEN:
            content, finish = content[: cap * CHARS_PER_TOKEN], "length"
        usage = {
            "prompt_tokens": sum(
                len(str(m.get("content", ""))) // CHARS_PER_TOKEN for m in request["messages"]
            ),
            "completion_tokens": len(content) // CHARS_PER_TOKEN,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {
            "id": f"chatcmpl-{index}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.get("model", "test"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": usage,
        }

    def _serve(self) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if not self.path.endswith("/chat/completions"):
                    status, payload = 404, {"error": {"message": "unknown path"}}
                elif (answer := fake.reply(request, self.connection)) is None:
                    self.close_connection = True  # the client gave up: nothing to send
                    return
                else:
                    status, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = QuietServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return server

    def close(self) -> None:
        self._stopped.set()
        self.server.shutdown()
        self.server.server_close()
