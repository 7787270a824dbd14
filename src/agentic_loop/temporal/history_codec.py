"""Opening every payload of a recorded history with a codec (`replay --save --decode`).

The SDK's payload visitor (temporalio.bridge._visitor) walks only core's activations and
commands, not history events, so this walks the events' message types itself, calling the
codec as `PayloadCodec.decode_wrapper` would.
"""

from __future__ import annotations

from google.protobuf.message import Message as ProtoMessage
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.converter import PayloadCodec

# The SDK sends search attributes and (by default) headers past the codec: never decoded.
_NOT_ENCODED = frozenset(
    {"temporal.api.common.v1.SearchAttributes", "temporal.api.common.v1.Header"}
)
_PAYLOAD = Payload.DESCRIPTOR.full_name


async def decode_history(history: WorkflowHistory, codec: PayloadCodec) -> WorkflowHistory:
    """A copy of `history` with every payload decoded by `codec`: inputs, results, LLM turns,
    failures (details and encoded attributes), memos, summaries."""
    events = []
    for event in history.events:
        copy = type(event)()
        copy.CopyFrom(event)
        await _decode_payloads(copy, codec)
        events.append(copy)
    return WorkflowHistory(history.workflow_id, events)


async def _decode_one(payload: Payload, codec: PayloadCodec) -> Payload:
    decoded = await codec.decode([payload])
    if len(decoded) != 1:
        raise ValueError(f"the payload codec decoded one payload into {len(decoded)}")
    return decoded[0]


async def _decode_payloads(message: ProtoMessage, codec: PayloadCodec) -> None:
    for field, value in message.ListFields():
        kind = field.message_type
        if kind is None or kind.full_name in _NOT_ENCODED:
            continue
        if kind.GetOptions().map_entry:
            held = kind.fields_by_name["value"].message_type
            if held is None or held.full_name in _NOT_ENCODED:
                continue
            for key in list(value):
                if held.full_name == _PAYLOAD:
                    value[key].CopyFrom(await _decode_one(value[key], codec))
                else:
                    await _decode_payloads(value[key], codec)
        elif field.is_repeated:
            if kind.full_name == _PAYLOAD:
                # Together, as PayloadCodec.decode_wrapper does: a codec may need them all.
                decoded = await codec.decode(list(value))
                del value[:]
                value.extend(decoded)
            else:
                for item in value:
                    await _decode_payloads(item, codec)
        elif kind.full_name == _PAYLOAD:
            value.CopyFrom(await _decode_one(value, codec))
        else:
            await _decode_payloads(value, codec)
