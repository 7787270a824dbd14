"""A stand-in for an OpenAI-compatible server: real HTTP on 127.0.0.1, canned answers.

`POST /v1/chat/completions` gets the next body of the list, in turn; anything else, or a
request past the end of the list, gets a 400 saying so, which the OpenAI provider does not
retry, so a test that asks more than it expected fails at once. Every request is kept.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETIONS = "/v1/chat/completions"


class ChatCompletionsServer:
    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self._bodies = list(bodies)
        self._lock = threading.Lock()
        # (path, decoded JSON body) of every request, in order of arrival.
        self.requests: list[tuple[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL is set to."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> ChatCompletionsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((path, body))
            if path != COMPLETIONS:
                return 404, _error(f"only POST {COMPLETIONS} is served, not {path}")
            if not self._bodies:
                return 400, _error(f"no answer left for request {len(self.requests)}")
            return 200, self._bodies.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, answer = server._answer(self.path, json.loads(raw or b"null"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `requests`; a line per request on stderr is noise

        return Handler


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None}}
