"""The codec server (`agentic-loop codec-server`): decrypts payloads for the Temporal Web UI
and CLI.

It speaks Temporal's remote codec protocol: POST {"payloads": [...]} (Payloads in proto JSON)
to /decode or /encode, and get the same shape back. Browsers call it from the UI's origin,
so it answers CORS preflights for the configured origins only. Every POST needs
`Authorization: Bearer $AGENTIC_LOOP_CODEC_TOKEN`: whoever can call it can read every
conversation. The standard library serves it; it is meant for a handful of people.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from agentic_loop.config import ConfigError, Settings
from agentic_loop.temporal.codec import CodecError, EncryptionCodec, codec_from_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8089
# Temporal caps one payload at 2 MB and the UI decodes an event page at a time.
MAX_BODY_BYTES = 32 * 1024 * 1024
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"

log = logging.getLogger(__name__)


class CodecRequestHandler(BaseHTTPRequestHandler):
    server: CodecHTTPServer
    protocol_version = "HTTP/1.1"

    def do_OPTIONS(self) -> None:
        # Preflights carry no credentials, so they are answered without the token.
        self._reply(HTTPStatus.NO_CONTENT, None)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        action = path.rsplit("/", 1)[-1]
        if action not in ("encode", "decode"):
            self._reply(HTTPStatus.NOT_FOUND, {"error": "use POST /encode or POST /decode"})
            return
        if not self._authorized():
            self._reply(
                HTTPStatus.UNAUTHORIZED,
                {"error": "missing or wrong bearer token"},
                {"WWW-Authenticate": "Bearer"},
            )
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
            return
        body = self.rfile.read(length)
        payloads = Payloads()
        try:
            json_format.Parse(body or b"{}", payloads)
        except json_format.ParseError as e:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": f"not a Payloads JSON object: {e}"})
            return
        codec = self.server.codec
        try:
            if action == "decode":
                result = codec.decode_sync(payloads.payloads)
            else:
                result = codec.encode_sync(payloads.payloads)
        except CodecError as e:
            self._reply(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(e)})
            return
        self._reply(HTTPStatus.OK, json_format.MessageToDict(Payloads(payloads=result)))

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.strip().encode(), token.encode())

    def _reply(
        self,
        status: HTTPStatus,
        body: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        origin = self.headers.get("Origin")
        if origin and origin.rstrip("/") in self.server.origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
            self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status >= 400:
            # The request body may be unread: the connection cannot carry another request.
            self.send_header("Connection", "close")
            self.close_connection = True
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line and status only: never a header (the token) or a body.
        log.info("%s %s", self.address_string(), format % args)


class CodecHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        codec: EncryptionCodec,
        *,
        token: str | None,
        origins: Sequence[str],
    ) -> None:
        super().__init__(address, CodecRequestHandler)
        self.codec = codec
        self.token = token
        self.origins = frozenset(o.rstrip("/") for o in origins)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_in_thread(self) -> threading.Thread:
        # A short poll interval: shutdown() waits for one.
        thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="codec-server", daemon=True
        )
        thread.start()
        return thread


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(
    settings: Settings, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, no_auth: bool = False
) -> CodecHTTPServer:
    """A codec server for the configured keys; refuses to serve without keys, or without a
    token unless told so on a loopback address."""
    codec = codec_from_settings(settings)
    if not codec.encrypts:
        raise ConfigError(
            "AGENTIC_LOOP_CODEC_KEYS is not set: the codec server needs the workers' keys"
        )
    if no_auth and not _is_loopback(host):
        raise ConfigError(
            f"--no-auth is only allowed on a loopback address, not {host}: set "
            "AGENTIC_LOOP_CODEC_TOKEN instead"
        )
    if not no_auth and not settings.codec_token:
        raise ConfigError(
            "AGENTIC_LOOP_CODEC_TOKEN is not set: callers must present it as a bearer token "
            "(or pass --no-auth to serve only this machine without one)"
        )
    try:
        return CodecHTTPServer(
            (host, port),
            codec,
            token=None if no_auth else settings.codec_token,
            origins=settings.codec_cors_origins,
        )
    except OSError as e:
        raise ConfigError(f"the codec server cannot listen on {host}:{port}: {e}") from e
