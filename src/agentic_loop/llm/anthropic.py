"""AnthropicProvider: the Messages API with client tools, through the official SDK.

Our transcript is in Chat Completions terms; the Messages API differs in four ways that matter
here: the system prompt is a top-level field, tool calls are `tool_use` blocks of an assistant
message, tool results are `tool_result` blocks of a *user* message (one user message for all
the results of one turn), and `max_tokens` is required. Failures leave this module only as
ProviderError built by `provider_error`, so errors.py alone decides what is retried, and
Temporal, not the SDK, does the retrying.
"""

from __future__ import annotations

import json
from typing import Any, cast

import anthropic
import httpx
import httpx2
from anthropic.types import Message as AnthropicMessage

from agentic_loop.config import ConfigError, Settings
from agentic_loop.llm.base import CompletionRequest
from agentic_loop.llm.errors import ProviderError, provider_error
from agentic_loop.llm.rate_limits import DEFAULT_MAX_DELAY_SECONDS, retry_advice
from agentic_loop.types import LLMTurn, Message, ToolCall, Usage

# The SDK appends /v1/messages itself, so ANTHROPIC_BASE_URL has no /v1 (as in the SDK).
DEFAULT_BASE_URL = "https://api.anthropic.com"
# Required by the API. Enough for a tool call or an answer of a few pages; a longer answer
# ends the run as truncated rather than paying for a runaway reply.
DEFAULT_MAX_TOKENS = 4096

# errors.py's hints name OpenAI's variables; these replace them for a permanent failure.
_HINTS = {
    400: "the request was rejected as invalid: check ANTHROPIC_MODEL",
    401: "check ANTHROPIC_API_KEY",
    403: "the key may lack access to this model: check ANTHROPIC_API_KEY and ANTHROPIC_MODEL",
    404: "check ANTHROPIC_MODEL and ANTHROPIC_BASE_URL",
    413: "the conversation is too large to send: lower max_turns",
}

# Permanent failures Anthropic reports only in words (as a 400), named by the codes errors.py
# knows, so they get its hint and their own Temporal error type.
_MESSAGE_CODES = (
    ("prompt is too long", "context_length_exceeded"),
    ("credit balance is too low", "insufficient_quota"),
)

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    # The context window filled up mid-answer: as cut off as a max_tokens stop.
    "model_context_window_exceeded": "length",
    "refusal": "refusal",
}


class _HttpxTransport(httpx2.AsyncBaseTransport):
    """Sends the SDK's httpx2 requests through an httpx client.

    anthropic 2.x talks through httpx2 and refuses an httpx client outright (a TypeError),
    while respx intercepts only httpx: this bridge lets every test see the real requests, and
    lets a caller lend the provider its own httpx client (proxies, certificates, limits).
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions.get("timeout")
        outgoing = self._client.build_request(
            request.method,
            str(request.url),
            headers=request.headers.multi_items(),
            content=await request.aread(),
            # The SDK's per-request timeout, so `timeout=` means the same as with httpx2.
            timeout=httpx.Timeout(**timeout) if timeout else httpx.USE_CLIENT_DEFAULT,
        )
        try:
            response = await self._client.send(outgoing)
        # Re-raised as httpx2's own kinds: the SDK tells a timeout from a connection error by
        # them. The message (not the cause) is kept, which is all the provider reports.
        except httpx.TimeoutException as e:
            raise httpx2.ReadTimeout(str(e), request=request) from None
        except httpx.TransportError as e:
            raise httpx2.ConnectError(str(e), request=request) from None
        # httpx has already decoded the body, so its encoding and length no longer apply.
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx2.Response(
            response.status_code, headers=headers, content=response.content, request=request
        )


def _tool_param(tool: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions tool schema as an Anthropic client tool (one already in Anthropic's
    shape is sent as it is)."""
    if "input_schema" in tool:
        return tool
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        raise ValueError(
            f"tool {tool!r} is neither a Chat Completions function nor an Anthropic tool"
        )
    param: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        param["description"] = function["description"]
    return param


def _tool_input(call: ToolCall) -> dict[str, Any]:
    # Our arguments are raw JSON text, kept even when malformed (the tool runner told the
    # model so in its result); the API wants an object, so anything else is sent as {}.
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _assistant_content(message: Message) -> list[dict[str, Any]]:
    # The API rejects an empty text block, so a tool-only turn sends its tool_use blocks alone.
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": _tool_input(call)}
        )
    return blocks


def _tool_result(message: Message) -> dict[str, Any]:
    if message.tool_call_id is None:
        raise ValueError("a tool message needs the tool_call_id of the call it answers")
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": message.content,
    }
    if message.is_error:
        # Unlike Chat Completions, the API has a flag for a tool's refusal: the model is told.
        block["is_error"] = True
    return block


def _conversation(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The top-level system prompt and the Messages API's `messages`, from our transcript."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        # Tool results and the text after them share one user message: the API wants the
        # results of one turn together, right after the assistant message that asked.
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        if message.role == "system":
            if message.content:
                system.append(message.content)
        elif message.role == "user":
            if message.content:
                add("user", [{"type": "text", "text": message.content}])
        elif message.role == "assistant":
            blocks = _assistant_content(message)
            # An empty reply (the loop re-asks after one) cannot be sent back: the API
            # rejects an assistant message without content.
            if blocks:
                add("assistant", blocks)
        elif message.role == "tool":
            add("user", [_tool_result(message)])
        else:
            raise ValueError(f"role {message.role!r} has no Messages API equivalent")
    return "\n\n".join(system), turns


def _usage(response: AnthropicMessage) -> Usage:
    usage = response.usage
    # Prompt tokens are every input token the model read, cached or not, as OpenAI counts
    # them (its prompt_tokens include cached ones): a token budget then means the same for
    # both providers. Anthropic reports cache reads and writes apart from input_tokens.
    prompt = (
        usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )
    return Usage(prompt, usage.output_tokens, prompt + usage.output_tokens)


class AnthropicProvider:
    """An LLMProvider backed by Anthropic's Messages API (or a server that speaks it)."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        timeout: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
        max_retry_delay: float = DEFAULT_MAX_DELAY_SECONDS,
    ) -> None:
        if max_tokens < 1:
            raise ConfigError(f"max_tokens={max_tokens}: use a positive number, e.g. 4096")
        self.model = model
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retry_delay = max_retry_delay
        # Passed explicitly so the SDK never reads ANTHROPIC_BASE_URL behind config.py's back.
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._api_key = api_key
        self._owns_http_client = http_client is None
        self._http_client = http_client or httpx.AsyncClient(timeout=timeout)
        self._client = anthropic.AsyncAnthropic(
            # An explicit key also stops the SDK from looking for credentials elsewhere
            # (ANTHROPIC_AUTH_TOKEN, profiles on disk).
            api_key=api_key,
            base_url=self.base_url,
            # Temporal owns retries: an SDK retry inside an activity attempt would multiply
            # the policy's attempts and hide failures from the history.
            max_retries=0,
            timeout=timeout,
            http_client=httpx2.AsyncClient(transport=_HttpxTransport(self._http_client)),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AnthropicProvider:
        if not settings.anthropic_api_key:
            raise ConfigError(
                "ANTHROPIC_API_KEY is not set: export it to use Anthropic, "
                "or set AGENTIC_LOOP_LLM=fake to run without an LLM account"
            )
        return cls(
            api_key=settings.anthropic_api_key,
            model=settings.anthropic_model,
            base_url=settings.anthropic_base_url,
            max_retry_delay=settings.max_retry_delay_seconds,
        )

    @property
    def name(self) -> str:
        return "anthropic"

    @property
    def default_model(self) -> str:
        return self.model

    async def aclose(self) -> None:
        """Close the HTTP clients, leaving a lent httpx client open."""
        await self._client.close()
        if self._owns_http_client:
            await self._http_client.aclose()

    async def complete(self, request: CompletionRequest) -> LLMTurn:
        system, messages = _conversation(request.messages)
        tools = [_tool_param(t) for t in request.tools]
        try:
            response = await self._client.messages.create(
                model=request.model or self.model,
                max_tokens=self.max_tokens,
                messages=cast(Any, messages),
                system=system if system else anthropic.omit,
                tools=cast(Any, tools) if tools else anthropic.omit,
            )
        # `from None` everywhere: Temporal records an exception's cause chain in history, and
        # the SDK's own error may quote the (unredacted) key.
        except anthropic.APITimeoutError:
            raise provider_error(
                None, f"the Anthropic request timed out after {self.timeout:g}s"
            ) from None
        except anthropic.APIConnectionError as e:
            reason = self._redact(str(e.__cause__ or e))
            error = provider_error(None, f"could not connect to {self.base_url}: {reason}")
            error.outage = True  # nothing answered: with a next provider, move on at once
            raise error from None
        except anthropic.APIStatusError as e:
            raise self._status_error(e) from None
        return self._turn(response)

    def _status_error(self, e: anthropic.APIStatusError) -> ProviderError:
        body = e.body
        message: str | None = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            message = error["message"]
        elif isinstance(body, str) and body.strip():
            message = body.strip()[:300]
        code = next(
            (c for words, c in _MESSAGE_CODES if message and words in message.lower()), None
        )
        advice = retry_advice(dict(e.response.headers), message, max_delay=self.max_retry_delay)
        failure = provider_error(
            e.status_code,
            self._redact(message or "Anthropic gave no error message"),
            code=code,
            retry_after=advice.delay,
            should_retry=advice.should_retry,
        )
        if not failure.retryable and code is None:
            failure.hint = _HINTS.get(e.status_code, failure.hint)
        return failure

    def _turn(self, response: AnthropicMessage) -> LLMTurn:
        text = "".join(block.text for block in response.content if block.type == "text")
        calls = [
            ToolCall(
                id=block.id,
                name=block.name,
                arguments=json.dumps(block.input, ensure_ascii=False),
            )
            for block in response.content
            if block.type == "tool_use"
        ]
        reason = response.stop_reason or "end_turn"
        finish_reason = _FINISH_REASONS.get(reason, reason)
        refusal: str | None = None
        if finish_reason == "length":
            # A reply cut off at its token limit may have been cut inside a tool call's
            # input: such a call is not run, and the run ends as truncated with its text.
            calls = []
        elif reason == "refusal":
            details = getattr(response, "stop_details", None)
            explanation = getattr(details, "explanation", None)
            refusal = explanation or text or "the model declined to answer (stop_reason refusal)"
        return LLMTurn(
            content=text,
            tool_calls=calls,
            finish_reason=finish_reason,
            refusal=refusal,
            usage=_usage(response),
            model=response.model,
        )

    def _redact(self, text: str) -> str:
        # Error text goes into Temporal's history, which is readable by anyone with UI access.
        return text.replace(self._api_key, "[redacted]") if self._api_key else text
