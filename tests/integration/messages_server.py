"""A local stand-in for Anthropic's Messages API (`POST /v1/messages`), enough of it for the
anthropic SDK, serving recorded bodies of fixtures/anthropic/ (scripted_http.py)."""

from __future__ import annotations

from typing import Any, ClassVar

import scripted_http
from scripted_http import ReceivedRequest, ScriptedServer

FIXTURES = scripted_http.FIXTURES / "anthropic"
MESSAGES_PATH = "/v1/messages"

__all__ = ["FIXTURES", "MESSAGES_PATH", "MessagesServer", "ReceivedRequest", "Reply"]


class Reply(scripted_http.Reply):
    folder: ClassVar = FIXTURES


class MessagesServer(ScriptedServer):
    route = MESSAGES_PATH

    def error(self, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}

    @property
    def base_url(self) -> str:
        """What ANTHROPIC_BASE_URL should be set to (no /v1: the SDK adds it)."""
        return self.origin
