"""A local stand-in for the Chat Completions API (`POST /v1/chat/completions`), enough of it
for the OpenAI SDK, serving recorded bodies of fixtures/openai/ (scripted_http.py)."""

from __future__ import annotations

from typing import Any, ClassVar

import scripted_http
from scripted_http import ReceivedRequest, ScriptedServer

FIXTURES = scripted_http.FIXTURES / "openai"
COMPLETIONS_PATH = "/v1/chat/completions"

__all__ = ["COMPLETIONS_PATH", "FIXTURES", "ChatCompletionsServer", "ReceivedRequest", "Reply"]


class Reply(scripted_http.Reply):
    folder: ClassVar = FIXTURES


class ChatCompletionsServer(ScriptedServer):
    route = COMPLETIONS_PATH

    def error(self, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": "invalid_request_error", "param": None}}

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be set to."""
        return f"{self.origin}/v1"
