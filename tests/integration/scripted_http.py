"""A local stand-in for a provider's HTTP API: real HTTP on 127.0.0.1, scripted answers.

Each request gets the next scripted reply (a recorded body, an error status, any headers), and
every request is kept so a test can read what the agent sent and when. When the script runs
out, requests get a 400 that says so: non-retryable, so a test whose agent asks more than
expected fails quickly and with a reason, not after every retry. Each provider's module names
its route, its error shape and its fixtures folder.
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
from typing import Any, ClassVar, Self

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@dataclass
class Reply:
    """One scripted answer: a dict is sent as JSON, a str as HTML (like a proxy's error page)."""

    status: int = 200
    body: dict[str, Any] | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Where `fixture` reads recorded bodies: a subclass per provider names its folder.
    folder: ClassVar[Path] = FIXTURES

    @classmethod
    def fixture(cls, name: str, status: int = 200, **headers: str) -> Self:
        """A recorded body from the provider's fixtures folder (NAME.json, else NAME.html)."""
        path = cls.folder / f"{name}.json"
        if path.exists():
            return cls(status, json.loads(path.read_text(encoding="utf-8")), headers)
        return cls(status, (cls.folder / f"{name}.html").read_text(encoding="utf-8"), headers)


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    # time.monotonic() on arrival: the gap between two requests shows the client's back-off.
    at: float


class ScriptedServer:
    """Serves the scripted replies in order, one per request, on a free port of 127.0.0.1."""

    # The one route served, e.g. "/v1/chat/completions"; a query string is ignored.
    route: ClassVar[str] = ""

    def __init__(self, replies: Iterable[Reply]) -> None:
        self._replies = list(replies)
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def error(self, message: str) -> dict[str, Any]:
        """The provider's error body for `message`."""
        raise NotImplementedError

    @property
    def origin(self) -> str:
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

    def __enter__(self) -> Self:
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
            if request.path.partition("?")[0] != self.route:
                message = f"no route {request.path}; only POST {self.route} is served"
                return Reply(404, self.error(message))
            if not self._replies:
                message = f"the test server's script has no reply for request {number}"
                return Reply(400, self.error(message))
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
                if isinstance(reply.body, str):
                    data = reply.body.encode("utf-8")
                    content_type = "text/html; charset=utf-8"
                else:
                    data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
                    content_type = "application/json"
                self.send_response(reply.status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `requests`; a line per request on stderr is noise

        return Handler
