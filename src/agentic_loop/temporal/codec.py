"""Encrypted history: every payload is compressed, then sealed with AES-GCM.

Temporal stores workflow inputs, LLM turns, tool results and queries as payloads in its
history, where anyone with access to the server or the Web UI can read them. With
AGENTIC_LOOP_CODEC_KEYS set, the worker and the client hand the server ciphertext only.

Each sealed payload names the id of the key that sealed it (never the key), so keys rotate:
put a new key first (it seals from then on) and keep the old ones listed (they still open
the histories they sealed). A payload that is not sealed passes through, so histories
recorded before encryption was turned on stay readable.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverter, PayloadCodec, PayloadConverter

from agentic_loop.config import ConfigError, Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
SCHEME = "encryption-scheme"
# zlib, then AES-GCM with a 96-bit random nonce in front of the ciphertext. A new scheme
# gets a new name; decoding dispatches on it, so old histories keep working.
SCHEME_V1 = b"zlib+aes-gcm/1"
NONCE_BYTES = 12
KEYS_VARIABLE = "AGENTIC_LOOP_CODEC_KEYS"
_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CodecError(Exception):
    """A payload that cannot be opened; the message says which key it needs."""


@dataclass(frozen=True)
class CodecKey:
    id: str
    material: bytes

    def __repr__(self) -> str:
        # Key material must never reach a log line, a traceback or a test report.
        return f"CodecKey(id={self.id!r})"


def generate_key() -> str:
    """A new random AES-256 key, base64-encoded as AGENTIC_LOOP_CODEC_KEYS takes it."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def parse_keys(text: str) -> list[CodecKey]:
    """Parse "id1:base64key,id2:base64key". Errors name the key id, never the key."""
    keys: list[CodecKey] = []
    for position, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID_PATTERN.fullmatch(key_id):
            raise ConfigError(
                f"{KEYS_VARIABLE}: entry {position} is not ID:BASE64KEY with an ID of letters, "
                "digits, '.', '_' or '-' (e.g. 2026-01:<base64 of 32 random bytes>)"
            )
        material = _decode_key(encoded.strip(), key_id)
        if any(k.id == key_id for k in keys):
            raise ConfigError(f"{KEYS_VARIABLE}: key id {key_id!r} is listed twice")
        keys.append(CodecKey(key_id, material))
    if not keys:
        raise ConfigError(f"{KEYS_VARIABLE} is set but lists no key")
    return keys


def _decode_key(encoded: str, key_id: str) -> bytes:
    try:
        padded = encoded + "=" * (-len(encoded) % 4)
        material = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        material = b""
    if len(material) not in (16, 24, 32):
        raise ConfigError(
            f"{KEYS_VARIABLE}: key {key_id!r} is not the base64 of 16, 24 or 32 bytes; "
            "make one with `python -c 'import base64,os; "
            "print(base64.b64encode(os.urandom(32)).decode())'`"
        )
    return material


class EncryptionCodec(PayloadCodec):
    """zlib, then AES-GCM, under the first key; opens payloads sealed by any listed key.

    With no key it seals nothing, and a sealed payload fails with an error that says which
    key to configure, rather than the SDK's "Unknown payload encoding".
    """

    def __init__(self, keys: Sequence[CodecKey]) -> None:
        self._encrypting = keys[0] if keys else None
        self._ciphers = {k.id: AESGCM(k.material) for k in keys}

    @property
    def encrypts(self) -> bool:
        return self._encrypting is not None

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decode_sync(payloads)

    def encode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._seal(p) for p in payloads]

    def decode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(p) for p in payloads]

    def _seal(self, payload: Payload) -> Payload:
        if self._encrypting is None:
            return payload
        key_id = self._encrypting.id
        nonce = os.urandom(NONCE_BYTES)
        plain = zlib.compress(payload.SerializeToString())
        sealed = self._ciphers[key_id].encrypt(nonce, plain, _associated_data(key_id))
        return Payload(
            metadata={
                "encoding": ENCODING,
                KEY_ID: key_id.encode(),
                SCHEME: SCHEME_V1,
            },
            data=nonce + sealed,
        )

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        scheme = payload.metadata.get(SCHEME, b"")
        if scheme != SCHEME_V1:
            raise CodecError(
                f"a payload uses encryption scheme {scheme.decode('utf-8', 'replace')!r}, "
                "which this version cannot open: upgrade agentic-loop"
            )
        cipher = self._ciphers.get(key_id)
        if cipher is None and not self._ciphers:
            raise CodecError(
                f"a payload was encrypted with key {key_id!r}, but {KEYS_VARIABLE} is not set: "
                "set it to a list that includes that key"
            )
        if cipher is None:
            raise CodecError(
                f"a payload was encrypted with key {key_id!r}, which {KEYS_VARIABLE} does not "
                f"list (it lists {', '.join(self._ciphers)}): add that key to the list"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _associated_data(key_id))
        except InvalidTag:
            raise CodecError(
                f"a payload encrypted with key {key_id!r} does not open with the key of that id "
                f"in {KEYS_VARIABLE}: the key material is wrong, or the payload was altered"
            ) from None
        inner = Payload()
        inner.ParseFromString(zlib.decompress(plain))
        return inner


def _associated_data(key_id: str) -> bytes:
    # Binds the key id and scheme to the ciphertext: relabelled metadata fails to open.
    return SCHEME_V1 + b"\x00" + key_id.encode()


class SealedFailureConverter(DefaultFailureConverter):
    """Seals failure messages and stack traces too (they can quote the conversation), except
    a CodecError's: it names key ids only, and a worker without the key must say why."""

    _plain = DefaultFailureConverter()

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        if isinstance(exception, CodecError):
            self._plain.to_failure(exception, payload_converter, failure)
        else:
            super().to_failure(exception, payload_converter, failure)


def codec_from_settings(settings: Settings) -> EncryptionCodec:
    """The codec AGENTIC_LOOP_CODEC_KEYS configures (one that seals nothing when unset)."""
    return EncryptionCodec(parse_keys(settings.codec_keys) if settings.codec_keys else [])
