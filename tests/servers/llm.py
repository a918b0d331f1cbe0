"""A local OpenAI-compatible chat-completions server with scripted replies.

DSPy talks to it over a real socket through ``api_base``. Each request is recorded (so tests can
count LM calls and inspect what was sent); each reply comes from the ``script``: a list of
callables taking the request JSON and returning the assistant's text, used in order (the last
one repeats). ``chat_adapter_reply`` builds replies in DSPy's ChatAdapter field format.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], str]


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

    def reply(request: dict[str, Any]) -> str:
        system = str(request["messages"][0].get("content", ""))
        for field_name, answer in replies.items():
            if f"[[ ## {field_name} ## ]]" in system:
                return answer(request)
        raise AssertionError(f"no scripted reply for this signature: {system[:300]}")

    return reply


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
        #: The next ``slow_next`` requests wait ``slow_s`` seconds before answering.
        self.slow_next = 0
        self.slow_s = 0.0
        self.slow_finished = False  # set when a slow answer was finally sent
        self.arrived = 0  # requests received, counted on arrival
        self._lock = threading.Lock()
        self.server = self._serve()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def reply(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.arrived += 1
            slow = self.slow_next > 0
            self.slow_next -= 1 if slow else 0
        if slow:
            time.sleep(self.slow_s)
            self.slow_finished = True
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
        content = step(request)
        usage = {
            "prompt_tokens": sum(len(str(m.get("content", ""))) // 4 for m in request["messages"]),
            "completion_tokens": len(content) // 4,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return 200, {
            "id": f"chatcmpl-{index}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.get("model", "test"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
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
                else:
                    status, payload = fake.reply(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return server

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
