"""The data converter of every client, worker and replayer of the agent loop.

Its own module, apart from the plugin: a command that only talks to a server (`status`,
`start`) connects with it and must not import the worker side the plugin brings.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from temporalio.converter import DataConverter, DefaultPayloadConverter

from agentic_loop.config import ConfigError, Settings
from agentic_loop.temporal.codec import EncryptionCodec, SealedFailureConverter, codec_from_settings
from agentic_loop.temporal.payload_converter import CachedHintsPayloadConverter
from agentic_loop.temporal.payload_store import external_storage


def data_converter(
    settings: Settings | None = None,
    base: DataConverter | None = None,
    payload_directory: Path | None = None,
) -> DataConverter:
    """`base` (the SDK's default converter unless given; its default payload converter with
    dataclass field types resolved once, temporal/payload_converter.py) through our payload
    codec, which seals payloads (and failure messages) when AGENTIC_LOOP_CODEC_KEYS is set,
    and otherwise only explains, on an encrypted history, which key it needs; with the payload
    store (temporal/payload_store.py) for payloads too big for history:
    AGENTIC_LOOP_PAYLOAD_STORE, else `payload_directory` (an embedded server's). The SDK
    stores what the codec made, so a stored payload is as sealed as one in history."""
    settings = settings if settings is not None else Settings.from_env()
    codec = codec_from_settings(settings)
    base = base if base is not None else DataConverter.default
    if base.payload_converter_class is DefaultPayloadConverter:  # a converter of the user's stays
        base = dataclasses.replace(base, payload_converter_class=CachedHintsPayloadConverter)
    if base.external_storage is None:  # a storage of the user's own stays
        base = dataclasses.replace(
            base, external_storage=external_storage(settings, payload_directory)
        )
    if base.payload_codec is not None and not isinstance(base.payload_codec, EncryptionCodec):
        if codec.encrypts:
            raise ConfigError(
                "the client already has a payload codec of its own and AGENTIC_LOOP_CODEC_KEYS "
                "asks for ours: use one of them"
            )
        return base  # the user's codec stays; ours would only have explained sealed payloads
    if not codec.encrypts:
        return dataclasses.replace(base, payload_codec=codec)
    return dataclasses.replace(
        base, payload_codec=codec, failure_converter_class=SealedFailureConverter
    )
