"""The SDK's default payload converter, with each dataclass's field types resolved once.

To turn a JSON payload back into a dataclass, the SDK's converter (`value_to_type`) calls
`typing.get_type_hints` on the class for every value it converts, and every nested one. Our
payload types are written with `from __future__ import annotations`, so each call compiles
and evaluates every field's annotation string again: replaying a 4,000-event run spent about
a third of its workflow time there (docs/performance.md, "Reading a long conversation back"),
and a live worker pays the same on every activity result.

`CachedHintsPayloadConverter` is the SDK's default converter in every other respect: the same
encoders in the same order, byte-identical payloads, and dataclasses rebuilt exactly as the
SDK rebuilds them (unknown fields ignored, `init=False` fields restored after `__init__`, a
missing field an error of the constructor). Written here, and not taken from a library,
because the SDK offers exactly this hook (a `JSONTypeConverter`) and no cache of its own, and
a different converter (the SDK's pydantic one, say) would change what every payload holds
and how recorded histories decode.
"""

from __future__ import annotations

import dataclasses
import typing
import weakref
from typing import Any

from temporalio.converter import (
    CompositePayloadConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    value_to_type,
)

# Weakly keyed: a class that goes away (a sandbox's own copy of a module, say) takes its
# entry with it.
_field_hints: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()


def field_hints(cls: type) -> dict[str, Any]:
    """`typing.get_type_hints(cls)`, computed once per class."""
    hints = _field_hints.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _field_hints[cls] = hints
    return hints


class CachedDataclassHints(JSONTypeConverter):
    """Rebuilds a dataclass from its JSON object as the SDK does, with cached field types.
    Any other hint (or a value that is not an object) is left to the SDK."""

    def to_typed_value(self, hint: type, value: Any) -> Any:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return JSONTypeConverter.Unhandled
        if not isinstance(value, dict):
            return JSONTypeConverter.Unhandled  # the SDK raises its own TypeError
        hints = field_hints(hint)
        given: dict[str, Any] = {}
        not_in_init: dict[str, Any] = {}
        for field in dataclasses.fields(hint):
            if field.name not in value:
                continue  # the constructor says so if the field is required
            try:
                converted = value_to_type(hints[field.name], value[field.name], _CONVERTERS)
            except Exception as e:
                raise TypeError(f"Failed converting field {field.name} on dataclass {hint}") from e
            (given if field.init else not_in_init)[field.name] = converted
        made = hint(**given)
        for name, converted in not_in_init.items():
            object.__setattr__(made, name, converted)  # works on frozen dataclasses too
        return made


_CONVERTERS: list[JSONTypeConverter] = [CachedDataclassHints()]

# Built once: the SDK makes a new composite converter for every serialization context (many
# per workflow task), so the encoders are shared, as the SDK's default shares its own.
_ENCODERS = tuple(
    JSONPlainPayloadConverter(custom_type_converters=_CONVERTERS)
    if isinstance(encoder, JSONPlainPayloadConverter)
    else encoder
    for encoder in DefaultPayloadConverter.default_encoding_payload_converters
)


class CachedHintsPayloadConverter(CompositePayloadConverter):
    """The SDK's default payload converter, with dataclass field types resolved once."""

    def __init__(self) -> None:
        super().__init__(*_ENCODERS)
