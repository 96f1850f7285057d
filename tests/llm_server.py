"""The one stand-in: a local OpenAI-compatible chat server with scripted replies.

LiteLLM reaches it over real HTTP (`LLM_API_BASE`), so the worker's handling of
provider faults is exercised end to end. Replies are consumed in order:

    server.script("plain text", {"memories": [...]}, Fault.rate_limit(), Fault.timeout(), Fault.unauthorized())

A str is the assistant's content; a dict is sent as JSON content; a Fault is an
injected failure. When the script runs out, `responder(body)` answers if set (a reply
computed from the request, for load with many sessions), else `default` (None: a 500
saying so). `latency` delays every answer; `in_flight` counts requests being answered.

Two switches stand apart from the script: while `outage` is set, every request is
answered 500 (and kept in `requests`) and the script is left as it is: a provider
outage, then recovery once it is cleared. The sweep's probe (`memory.llm.PROBE_PROMPT`)
is answered "OK" without taking a scripted reply, and counted in `probes` (outage or
not), never in `requests`.
"""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from memory.llm import PROBE_PROMPT

MODEL = "openai/scripted"


@dataclass(frozen=True)
class Fault:
    kind: str
    seconds: float = 0.0
    message: str = ""  # the error's message in place of the usual one (a long or many-line body)

    @classmethod
    def rate_limit(cls):
        return cls("rate_limit")

    @classmethod
    def server_error(cls):
        return cls("server_error")

    @classmethod
    def bad_request(cls, message: str = ""):
        """A 400: the provider refuses the request itself (retrying cannot help)."""
        return cls("bad_request", message=message)

    @classmethod
    def unauthorized(cls):
        """A 401: a wrong API key (retrying cannot help)."""
        return cls("unauthorized")

    @classmethod
    def timeout(cls, seconds: float = 10.0):
        """Answer only after `seconds`, past any sane client timeout."""
        return cls("timeout", seconds)

    @classmethod
    def malformed_json(cls):
        """A 200 whose content is not the JSON object that was asked for."""
        return cls("malformed_json")


# What the server answers for each fault: status, error body, extra headers.
FAULT_RESPONSES = {
    "rate_limit": (429, {"error": {"message": "rate limited", "type": "rate_limit_exceeded"}}, {"Retry-After": "0"}),
    "server_error": (500, {"error": {"message": "upstream exploded", "type": "server_error"}}),
    "bad_request": (
        400,
        {"error": {"message": "invalid request: unsupported parameter", "type": "invalid_request_error"}},
    ),
    "unauthorized": (
        401,
        {
            "error": {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    ),
    "timeout": (504, {"error": {"message": "too late", "type": "timeout"}}),
}


def completion(body: dict, content: str, *, number: int) -> dict:
    """An OpenAI chat completion carrying `content`, with word counts as token usage."""
    prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(content.split()),
            "total_tokens": prompt_words + len(content.split()),
        },
    }


class ScriptedLLMServer:
    def __init__(self):
        self._lock = threading.Lock()
        self._replies: list = []
        self.default = None
        self.responder = None
        self.latency = 0.0
        self.in_flight = 0
        self.outage = False
        self.probes = 0
        self.requests: list[dict] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def script(self, *replies) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self.requests.clear()
            self.default = None
            self.responder = None
            self.latency = 0.0
            self.outage = False
            self.probes = 0

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    def env(self) -> dict:
        """Environment that points a child process (gunicorn, worker) at this server."""
        return {"LLM_MODEL": MODEL, "LLM_API_BASE": self.url, "LLM_API_KEY": "sk-test"}

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _probed(self, body: dict) -> bool:
        """Whether this request is the probe (counted here)."""
        if body.get("messages") != [{"role": "user", "content": PROBE_PROMPT}]:
            return False
        with self._lock:
            self.probes += 1
        return True

    def _outage_hit(self, body: dict, *, probe: bool) -> None:
        """A request answered 500 by the outage is still a request (a probe is counted apart)."""
        if not probe:
            with self._lock:
                self.requests.append(body)

    def _next(self, body: dict):
        with self._lock:
            self.requests.append(body)
            if self._replies:
                return self._replies.pop(0)
            responder = self.responder
        return responder(body) if responder else self.default

    def _count_in_flight(self, change: int) -> None:
        with self._lock:
            self.in_flight += change

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    return self._send(400, {"error": {"message": "bad request body", "type": "invalid_request"}})
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                server._count_in_flight(+1)
                try:
                    self._answer(body)
                finally:
                    server._count_in_flight(-1)

            def _answer(self, body: dict):
                probe = server._probed(body)
                if server.outage:
                    server._outage_hit(body, probe=probe)
                    return self._send(*FAULT_RESPONSES["server_error"])
                reply = "OK" if probe else server._next(body)
                if server.latency:
                    time.sleep(server.latency)
                if reply is None:
                    return self._send(500, {"error": {"message": "script exhausted", "type": "server_error"}})
                if isinstance(reply, Fault):
                    if reply.kind == "timeout":
                        time.sleep(reply.seconds)
                    if reply.kind in FAULT_RESPONSES:
                        status, payload, *headers = FAULT_RESPONSES[reply.kind]
                        if reply.message:
                            payload = {"error": {**payload["error"], "message": reply.message}}
                        return self._send(status, payload, *headers)
                    reply = '{"memories": [{"text": "unterminated'
                content = json.dumps(reply) if isinstance(reply, dict) else str(reply)
                self._send(200, completion(body, content, number=len(server.requests)))

            def _send(self, status: int, payload: dict, headers: dict | None = None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler
