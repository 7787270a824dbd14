"""`agentic-loop codec-server`: Temporal's remote codec protocol over local HTTP."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from agentic_loop.config import ConfigError, Settings
from agentic_loop.temporal.codec import generate_key
from agentic_loop.temporal.codec_server import (
    CodecHTTPServer,
    make_server,
)
from agentic_loop.temporal.plugin import data_converter

TOKEN = "codec-token-for-tests-0123"
KEYS = f"k1:{generate_key()}"
UI = "http://localhost:8088"


@pytest.fixture
def server() -> Iterator[CodecHTTPServer]:
    settings = Settings(codec_keys=KEYS, codec_token=TOKEN)
    running = make_server(settings, port=0)
    running.start_in_thread()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()


def call(
    server: CodecHTTPServer,
    path: str,
    body: bytes | None = None,
    *,
    token: str | None = TOKEN,
    method: str = "POST",
    origin: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json", "X-Namespace": "default"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    request = urllib.request.Request(server.url + path, body, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data = response.read()
            return response.status, dict(response.headers), json.loads(data) if data else None
    except urllib.error.HTTPError as e:
        data = e.read()
        return e.code, dict(e.headers), json.loads(data) if data else None


async def sealed_body(text: str) -> bytes:
    (payload,) = await data_converter(Settings(codec_keys=KEYS)).encode([text])
    return json.dumps({"payloads": [json_format.MessageToDict(payload)]}).encode()


def opened_text(body: Any) -> str:
    payload = json_format.ParseDict(body["payloads"][0], Payload())
    text: str = json.loads(payload.data)
    return text


async def test_decode_with_the_token_returns_the_plaintext(server: CodecHTTPServer) -> None:
    """POST /decode with the bearer token turns a sealed payload back into its JSON."""
    status, _, body = call(server, "/decode", await sealed_body("5 + 3 = 8"))
    assert status == 200
    assert opened_text(body) == "5 + 3 = 8"


async def test_decode_refuses_a_caller_without_or_with_a_wrong_token(
    server: CodecHTTPServer,
) -> None:
    """Without the token, or with another one, the server answers 401 and decodes nothing."""
    sealed = await sealed_body("5 + 3 = 8")
    for token in (None, "not-the-token"):
        status, headers, body = call(server, "/decode", sealed, token=token)
        assert status == 401
        assert headers["WWW-Authenticate"] == "Bearer"
        assert "payloads" not in body


async def test_encode_then_decode_round_trips(server: CodecHTTPServer) -> None:
    """/encode seals plain payloads under the first key; /decode opens them again."""
    (plain,) = await data_converter(Settings()).encode(["hello"])
    body = json.dumps({"payloads": [json_format.MessageToDict(plain)]}).encode()
    status, _, sealed = call(server, "/encode", body)
    assert status == 200
    metadata = sealed["payloads"][0]["metadata"]
    assert base64.b64decode(metadata["encoding"]) == b"binary/encrypted"
    status, _, opened = call(server, "/decode", json.dumps(sealed).encode())
    assert (status, opened_text(opened)) == (200, "hello")


def test_preflight_from_the_ui_origin_is_allowed_without_a_token(
    server: CodecHTTPServer,
) -> None:
    """The browser's CORS preflight (no credentials) from the UI's origin gets the CORS
    headers; another origin gets none, so the browser blocks it."""
    status, headers, _ = call(server, "/decode", method="OPTIONS", token=None, origin=UI)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == UI
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    assert "X-Namespace" in headers["Access-Control-Allow-Headers"]
    status, headers, _ = call(
        server, "/decode", method="OPTIONS", token=None, origin="https://evil.example"
    )
    assert "Access-Control-Allow-Origin" not in headers


async def test_a_payload_under_an_unknown_key_is_a_clear_422(server: CodecHTTPServer) -> None:
    """A payload sealed with a key the server lacks gets 422 naming the key id."""
    (payload,) = await data_converter(Settings(codec_keys=f"other:{generate_key()}")).encode(["x"])
    body = json.dumps({"payloads": [json_format.MessageToDict(payload)]}).encode()
    status, _, answer = call(server, "/decode", body)
    assert status == 422
    assert "'other'" in answer["error"]


def test_malformed_bodies_and_unknown_paths_are_refused(server: CodecHTTPServer) -> None:
    """Non-JSON bodies get 400; paths other than /encode and /decode get 404."""
    assert call(server, "/decode", b"not json")[0] == 400
    assert call(server, "/metrics", b"{}")[0] == 404


def test_the_server_refuses_to_start_without_keys_or_token() -> None:
    """No keys, no token, or --no-auth on a non-loopback address: each is a ConfigError."""
    with pytest.raises(ConfigError, match="AGENTIC_LOOP_CODEC_KEYS is not set"):
        make_server(Settings(codec_token=TOKEN), port=0)
    with pytest.raises(ConfigError, match="AGENTIC_LOOP_CODEC_TOKEN is not set"):
        make_server(Settings(codec_keys=KEYS), port=0)
    with pytest.raises(ConfigError, match="loopback"):
        make_server(Settings(codec_keys=KEYS), host="0.0.0.0", port=0, no_auth=True)


async def test_no_auth_on_loopback_serves_without_a_token() -> None:
    """--no-auth on 127.0.0.1 (a person's own machine, for the Web UI) needs no token."""
    running = make_server(Settings(codec_keys=KEYS), port=0, no_auth=True)
    running.start_in_thread()
    try:
        status, _, body = call(running, "/decode", await sealed_body("hi"), token=None)
    finally:
        running.shutdown()
        running.server_close()
    assert (status, opened_text(body)) == (200, "hi")


def test_the_command_registers_on_a_parser() -> None:
    """The command line has `codec-server` with --host, --port and --no-auth."""
    from agentic_loop.cli import build_parser

    args = build_parser().parse_args(["codec-server", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.command, args.host, args.port, args.no_auth) == (
        "codec-server",
        "0.0.0.0",
        9000,
        False,
    )
