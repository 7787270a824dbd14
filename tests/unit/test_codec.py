"""The history codec: zlib then AES-GCM, key ids for rotation, clear errors (no server)."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from agentic_loop.config import ConfigError, Settings
from agentic_loop.temporal.codec import (
    ENCODING,
    KEY_ID,
    CodecError,
    EncryptionCodec,
    generate_key,
    parse_keys,
)
from agentic_loop.temporal.plugin import data_converter
from agentic_loop.types import AgentInput

GOAL = "5 + 3을 계산하고, 그 결과에 대해 간단한 설명을 작성해줘"
KEY_A = generate_key()
KEY_B = generate_key()


async def seal(keys: str, value: object) -> Payload:
    (payload,) = await data_converter(Settings(codec_keys=keys)).encode([value])
    return payload


async def test_a_payload_is_sealed_under_the_first_key_and_opens_again() -> None:
    """Encoding names the first key's id, shows neither plaintext nor key, and decodes back."""
    keys = f"a:{KEY_A},b:{KEY_B}"
    payload = await seal(keys, AgentInput(goal=GOAL))
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID] == b"a"
    raw = payload.SerializeToString()
    assert GOAL.encode() not in raw
    assert b"5 + 3" not in raw
    assert base64.b64decode(KEY_A) not in raw
    (decoded,) = await data_converter(Settings(codec_keys=keys)).decode([payload], [AgentInput])
    assert decoded == AgentInput(goal=GOAL)


async def test_payloads_are_compressed_before_encryption() -> None:
    """A repetitive payload seals to far fewer bytes than its plaintext: zlib ran first
    (ciphertext itself would not compress)."""
    text = "the same sentence again. " * 400
    (plain,) = await data_converter(Settings()).encode([text])
    sealed = await seal(f"a:{KEY_A}", text)
    assert len(sealed.data) < len(plain.data) / 10


async def test_the_same_value_seals_differently_each_time() -> None:
    """A fresh nonce per payload: equal inputs give unequal ciphertexts."""
    first = await seal(f"a:{KEY_A}", GOAL)
    second = await seal(f"a:{KEY_A}", GOAL)
    assert first.data != second.data


async def test_an_altered_ciphertext_fails_to_open_with_a_clear_error() -> None:
    """Flipping one byte is detected (AES-GCM's tag), and the error says so without the key."""
    payload = await seal(f"a:{KEY_A}", GOAL)
    altered = bytearray(payload.data)
    altered[-1] ^= 1
    payload.data = bytes(altered)
    with pytest.raises(CodecError, match="wrong, or the payload was altered") as caught:
        await EncryptionCodec(parse_keys(f"a:{KEY_A}")).decode([payload])
    assert KEY_A not in str(caught.value)


async def test_relabelling_the_key_id_does_not_open_the_payload() -> None:
    """The key id is bound to the ciphertext: a payload relabelled to another known id fails."""
    payload = await seal(f"a:{KEY_A}", GOAL)
    payload.metadata[KEY_ID] = b"b"
    with pytest.raises(CodecError, match="'b'"):
        await EncryptionCodec(parse_keys(f"a:{KEY_A},b:{KEY_A}")).decode([payload])


async def test_an_unknown_key_id_names_the_key_to_add() -> None:
    """A payload sealed with a key that is not listed says which id is missing."""
    payload = await seal(f"old:{KEY_A}", GOAL)
    with pytest.raises(CodecError, match="key 'old', which AGENTIC_LOOP_CODEC_KEYS does not"):
        await EncryptionCodec(parse_keys(f"new:{KEY_B}")).decode([payload])


async def test_without_keys_a_sealed_payload_says_which_key_to_set() -> None:
    """data_converter() without keys stores plain JSON, and meeting a sealed payload it asks
    for AGENTIC_LOOP_CODEC_KEYS instead of failing with "Unknown payload encoding"."""
    unkeyed = data_converter(Settings())
    (plain,) = await unkeyed.encode([GOAL])
    assert plain.metadata["encoding"] == b"json/plain"
    payload = await seal(f"old:{KEY_A}", GOAL)
    with pytest.raises(CodecError, match="'old', but AGENTIC_LOOP_CODEC_KEYS is not set"):
        await unkeyed.decode([payload], [str])


async def test_rotation_seals_with_the_new_key_and_opens_with_the_old() -> None:
    """With "new,old", new payloads name `new` and payloads sealed under `old` still open."""
    old_payload = await seal(f"old:{KEY_A}", GOAL)
    rotated = data_converter(Settings(codec_keys=f"new:{KEY_B},old:{KEY_A}"))
    assert await rotated.decode([old_payload], [str]) == [GOAL]
    (new_payload,) = await rotated.encode([GOAL])
    assert new_payload.metadata[KEY_ID] == b"new"


async def test_plaintext_payloads_from_before_encryption_still_decode() -> None:
    """Turning encryption on keeps histories recorded without it readable."""
    (plain,) = await data_converter(Settings()).encode([GOAL])
    assert await data_converter(Settings(codec_keys=f"a:{KEY_A}")).decode([plain], [str]) == [GOAL]


def test_failure_messages_are_sealed_but_codec_errors_stay_readable() -> None:
    """With a key, an error's message moves into the sealed attributes, except a CodecError's,
    which a worker without the key must be able to report."""
    failures = data_converter(Settings(codec_keys=f"a:{KEY_A}")).failure_converter
    payloads = data_converter(Settings()).payload_converter
    sealed = Failure()
    failures.to_failure(ApplicationError(f"tool failed on {GOAL}"), payloads, sealed)
    assert sealed.message == "Encoded failure"
    assert GOAL not in sealed.message
    plain = Failure()
    failures.to_failure(CodecError("a payload was encrypted with key 'x'"), payloads, plain)
    assert plain.message == "a payload was encrypted with key 'x'"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("justakey", "entry 1 is not ID:BASE64KEY"),
        # Ids of their own where the keys are random: pytest-xdist's workers must collect the
        # same test ids, and a key has no business in a test's name.
        pytest.param(f"bad id:{KEY_A}", "entry 1 is not ID:BASE64KEY", id="bad-id"),
        ("a:not*base64!", "key 'a' is not the base64 of 16, 24 or 32 bytes"),
        (f"a:{base64.b64encode(b'short').decode()}", "key 'a' is not the base64"),
        pytest.param(f"a:{KEY_A},a:{KEY_B}", "key id 'a' is listed twice", id="id-twice"),
        (" , ", "lists no key"),
    ],
)
def test_malformed_key_lists_are_config_errors_that_show_no_key(keys: str, expected: str) -> None:
    """Each mistake in AGENTIC_LOOP_CODEC_KEYS fails at start with the variable's name and
    the fix, and never echoes key material."""
    with pytest.raises(ConfigError, match=expected) as caught:
        parse_keys(keys)
    assert "AGENTIC_LOOP_CODEC_KEYS" in str(caught.value)
    assert KEY_A not in str(caught.value)
    assert KEY_B not in str(caught.value)


def test_url_safe_and_unpadded_keys_are_accepted() -> None:
    """Keys in URL-safe base64 or without padding parse to the same 32 bytes."""
    raw = bytes(range(200, 232))
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    (key,) = parse_keys(f"k:{urlsafe}")
    assert key.material == raw
    assert "material" not in repr(key)
    assert urlsafe not in repr(key)
