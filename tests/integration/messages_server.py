"""A local stand-in for Anthropic's Messages API: real HTTP on 127.0.0.1, scripted answers.

It speaks just enough of `POST /v1/messages` for the anthropic SDK: each request gets the next
scripted reply (a recorded body from fixtures/anthropic/, an error status, any headers), and
every request is kept so a test can read what the agent sent and when.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"
MESSAGES_PATH = "/v1/messages"


@dataclass
class Reply:
    """One scripted answer, sent as JSON."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fixture(cls, name: str, status: int = 200, **headers: str) -> Reply:
        """A recorded body from fixtures/anthropic/NAME.json."""
        path = FIXTURES / f"{name}.json"
        return cls(status, json.loads(path.read_text(encoding="utf-8")), headers)


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    # time.monotonic() on arrival: the gap between two requests shows the client's back-off.
    at: float


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


class MessagesServer:
    """Serves the scripted replies in order, one per request, on a free port of 127.0.0.1.

    When the script runs out, requests get a 400 that says so: non-retryable, so a test whose
    agent asks more than expected fails quickly and with a reason, not after every retry.
    """

    def __init__(self, replies: Iterable[Reply]) -> None:
        self._replies = list(replies)
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """What ANTHROPIC_BASE_URL should be set to (no /v1: the SDK adds it)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MessagesServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _next_reply(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            number = len(self._requests)
            # The SDK may add a query string (?beta=true); the route is the path alone.
            if request.path.partition("?")[0] != MESSAGES_PATH:
                message = f"no route {request.path}; only POST {MESSAGES_PATH} is served"
                return Reply(404, _error(message))
            if not self._replies:
                message = f"the test server's script has no reply for request {number}"
                return Reply(400, _error(message))
            return self._replies.pop(0)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                received = ReceivedRequest(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.monotonic(),
                )
                self._send(server._next_reply(received))

            def _send(self, reply: Reply) -> None:
                data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `requests`; a line per request on stderr is noise

        return Handler
