"""OpenAIProvider: Chat Completions with function tools, through the official SDK.

Failures leave this module only as ProviderError built by `provider_error`, so the decision of
what to retry stays in errors.py, and Temporal, not the SDK, does the retrying.
"""

from __future__ import annotations

from typing import Any, cast

import httpx
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallUnion,
    ChatCompletionToolUnionParam,
)

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.errors import ProviderError, provider_error
from agentic_loop.llm.rate_limits import DEFAULT_MAX_DELAY_SECONDS, retry_advice
from agentic_loop.types import LLMTurn, Message, ToolCall, Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _tool_call_param(call: ToolCall) -> ChatCompletionMessageFunctionToolCallParam:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _message_param(message: Message) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "user":
        return {"role": "user", "content": message.content}
    if message.role == "assistant":
        if not message.tool_calls:
            return {"role": "assistant", "content": message.content}
        # The API wants null, not "", beside tool calls; some compatible servers reject "".
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [_tool_call_param(c) for c in message.tool_calls],
        }
    if message.role == "tool":
        if message.tool_call_id is None:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        # Chat Completions has no error flag on tool results: the content itself says so.
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    raise ValueError(f"role {message.role!r} has no Chat Completions equivalent")


def _tool_call(raw: ChatCompletionMessageToolCallUnion) -> ToolCall:
    # Some OpenAI-compatible servers leave out "type"; a call with a function is a function
    # call whatever its type says (read by attribute: the SDK's model lacks the field then).
    function = getattr(raw, "function", None)
    if function is not None:
        # Arguments stay raw even when they are not JSON: the tool runner tells the model.
        return ToolCall(id=raw.id, name=function.name, arguments=function.arguments or "{}")
    # We only offer function tools, but a custom tool call must not be dropped silently.
    custom = getattr(raw, "custom", None)
    if custom is not None:
        return ToolCall(id=raw.id, name=custom.name, arguments=custom.input)
    raise provider_error(None, f"a tool call the model made has no function: {raw!r}"[:300])


def _usage(response: ChatCompletion) -> Usage:
    usage = response.usage
    if usage is None:
        return Usage()
    return Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


class OpenAIProvider:
    """An LLMProvider backed by the OpenAI Chat Completions API (or a compatible server)."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
        max_retry_delay: float = DEFAULT_MAX_DELAY_SECONDS,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.max_retry_delay = max_retry_delay
        # Passed explicitly so the SDK never reads OPENAI_BASE_URL behind config.py's back.
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._api_key = api_key
        self._owns_http_client = http_client is None
        # openai 3.x defaults to an httpx2 client, which respx cannot intercept; it still
        # accepts an httpx client at run time, although its signature only names httpx2.
        self._http_client = http_client or httpx.AsyncClient(timeout=timeout)
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=self.base_url,
            # Temporal owns retries: an SDK retry inside an activity attempt would multiply
            # the policy's attempts and hide failures from the history.
            max_retries=0,
            timeout=timeout,
            http_client=cast(Any, self._http_client),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        if not settings.openai_api_key:
            raise ConfigError(
                "OPENAI_API_KEY is not set: export it to use OpenAI, "
                "or set AGENTIC_LOOP_LLM=fake to run without an LLM account"
            )
        return cls(
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            max_retry_delay=settings.max_retry_delay_seconds,
        )

    @property
    def name(self) -> str:
        return "openai"

    @property
    def default_model(self) -> str:
        return self.model

    async def aclose(self) -> None:
        """Close the HTTP client, unless the caller lent it to us."""
        if self._owns_http_client:
            await self._http_client.aclose()

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        messages = [_message_param(m) for m in request.messages]
        tools = cast(list[ChatCompletionToolUnionParam], request.tools)
        try:
            response = await self._client.chat.completions.create(
                model=request.model or self.model,
                messages=messages,
                tools=tools if tools else openai.omit,
                tool_choice="auto" if tools else openai.omit,
            )
        # `from None` everywhere: Temporal records an exception's cause chain in history, and
        # the SDK's own error may quote the (unredacted) key.
        except openai.APITimeoutError:
            raise provider_error(
                None, f"the OpenAI request timed out after {self.timeout:g}s"
            ) from None
        except openai.APIConnectionError as e:
            reason = self._redact(str(e.__cause__ or e))
            error = provider_error(None, f"could not connect to {self.base_url}: {reason}")
            error.outage = True
            raise error from None
        except openai.APIStatusError as e:
            raise self._status_error(e) from None
        return self._turn(response)

    def _status_error(self, e: openai.APIStatusError) -> ProviderError:
        body = e.body
        message: str | None = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message = body["message"]
        elif isinstance(body, str) and body.strip():
            message = body.strip()[:300]
        advice = retry_advice(dict(e.response.headers), message, max_delay=self.max_retry_delay)
        return provider_error(
            e.status_code,
            self._redact(message or "OpenAI gave no error message"),
            code=e.code,
            retry_after=advice.delay,
            should_retry=advice.should_retry,
        )

    def _turn(self, response: ChatCompletion) -> LLMTurn:
        if not response.choices:
            # A 200 without an answer is the server's fault, and another attempt may succeed.
            raise provider_error(
                None, f"OpenAI returned no choices (response {response.id})", code="no_choices"
            )
        # With n > 1 a server sends several choices; the loop follows one conversation.
        choice = response.choices[0]
        message = choice.message
        calls = [_tool_call(c) for c in message.tool_calls or []]
        legacy = message.function_call
        if not calls and legacy is not None:
            # The function_call of older servers: one call with no id of its own, so it gets
            # one made of the response's id (unique per answer, as a call id must be).
            calls = [
                ToolCall(id=f"call_{response.id}", name=legacy.name, arguments=legacy.arguments)
            ]
        finish_reason = choice.finish_reason
        if finish_reason == "function_call":
            finish_reason = "tool_calls"
        return LLMTurn(
            content=message.content or "",
            tool_calls=calls,
            finish_reason=finish_reason,
            refusal=message.refusal,
            usage=_usage(response),
            model=response.model,
        )

    def _redact(self, text: str) -> str:
        # Error text goes into Temporal's history, which is readable by anyone with UI access.
        return text.replace(self._api_key, "[redacted]") if self._api_key else text
