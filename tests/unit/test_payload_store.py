"""Big payloads without a server: the directory store, the threshold, the model-side cut of
tool results and the settings of both limits."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from agentic_loop.activities import cut_tool_result
from agentic_loop.cli.common import explain
from agentic_loop.config import (
    DEFAULT_PAYLOAD_STORE_THRESHOLD,
    MAX_PAYLOAD_STORE_THRESHOLD,
    ConfigError,
    Settings,
)
from agentic_loop.temporal.payload_store import (
    LOCAL_DRIVER_NAME,
    S3_DRIVER_NAME,
    LocalPayloadStore,
    PayloadStoreError,
    beside_database,
    external_storage,
    noting_failures,
    payload_store,
)
from agentic_loop.temporal.plugin import data_converter
from agentic_loop.transcript.reader import ClosedRunUnreadable
from agentic_loop.types import DEFAULT_TOOL_RESULT_LIMIT_BYTES, Message

REFERENCE_TYPE = b"temporal.api.sdk.v1.ExternalStorageReference"


def payload(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"binary/plain"}, data=data)


async def store_one(store: LocalPayloadStore, value: Payload) -> StorageDriverClaim:
    [claim] = await store.store(StorageDriverStoreContext(), [value])
    return claim


async def retrieve_one(store: LocalPayloadStore, claim: StorageDriverClaim) -> Payload:
    [value] = await store.retrieve(StorageDriverRetrieveContext(), [claim])
    return value


def stored_files(directory: Path) -> list[Path]:
    return [f for f in directory.rglob("*") if f.is_file()]


# ---- the directory store --------------------------------------------------------------------


async def test_a_payload_is_filed_under_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    """The claim is the sha256 of the serialized payload, and its file is dir/ab/abcd…."""
    store = LocalPayloadStore(tmp_path)
    value = payload(b"x" * 1000)
    claim = await store_one(store, value)
    digest = hashlib.sha256(value.SerializeToString(deterministic=True)).hexdigest()
    assert claim.claim_data == {"sha256": digest}
    assert (tmp_path / digest[:2] / digest).read_bytes() == value.SerializeToString(
        deterministic=True
    )


async def test_the_same_payload_is_kept_once_and_another_apart(tmp_path: Path) -> None:
    """Storing a payload twice gives the same claim and one file; another payload, another."""
    store = LocalPayloadStore(tmp_path)
    first = await store_one(store, payload(b"same"))
    again = await store_one(store, payload(b"same"))
    other = await store_one(store, payload(b"other"))
    assert first == again
    assert other != first
    files = stored_files(tmp_path)
    assert len(files) == 2
    assert not [f for f in files if f.name.startswith(".partial-")]


async def test_store_then_retrieve_gives_the_payload_back(tmp_path: Path) -> None:
    """A payload of several MB with metadata comes back from its claim equal to what was
    stored, in a store opened anew on the same directory."""
    value = payload(bytes(range(256)) * 20_000)
    value.metadata["messageType"] = b"some.Type"
    claim = await store_one(LocalPayloadStore(tmp_path), value)
    assert await retrieve_one(LocalPayloadStore(tmp_path), claim) == value


async def test_a_missing_object_is_a_one_line_non_retryable_error(tmp_path: Path) -> None:
    """A claim whose file is gone is a non-retryable PayloadStoreError on one line naming the
    hash, the directory and the variable to set."""
    store = LocalPayloadStore(tmp_path)
    claim = StorageDriverClaim({"sha256": "ab" + "0" * 62})
    with pytest.raises(PayloadStoreError) as raised:
        await retrieve_one(store, claim)
    message = raised.value.message
    assert message == (
        f"payload sha256:ab{'0' * 62} is missing from the payload store {tmp_path}: it was "
        "deleted, or this process has another store than the one that wrote it (set "
        "AGENTIC_LOOP_PAYLOAD_STORE)"
    )
    assert raised.value.non_retryable
    assert raised.value.type == "PAYLOAD_STORE_MISSING"


async def test_a_store_whose_directory_is_gone_says_so(tmp_path: Path) -> None:
    """Retrieving from a store whose directory was removed names the directory as absent."""
    directory = tmp_path / "store"
    store = LocalPayloadStore(directory, create=True)
    claim = await store_one(store, payload(b"data"))
    for file in sorted(directory.rglob("*"), reverse=True):
        file.unlink() if file.is_file() else file.rmdir()
    directory.rmdir()
    with pytest.raises(PayloadStoreError, match=r"which does not exist here: set AGENTIC_LOOP"):
        await retrieve_one(store, claim)


async def test_an_altered_file_is_refused(tmp_path: Path) -> None:
    """A stored file whose bytes no longer match its name's hash is an error, not data."""
    store = LocalPayloadStore(tmp_path)
    claim = await store_one(store, payload(b"original"))
    digest = claim.claim_data["sha256"]
    (tmp_path / digest[:2] / digest).write_bytes(payload(b"forged").SerializeToString())
    with pytest.raises(PayloadStoreError, match="does not match its hash"):
        await retrieve_one(store, claim)


def test_a_configured_directory_must_exist(tmp_path: Path) -> None:
    """AGENTIC_LOOP_PAYLOAD_STORE naming no directory is a ConfigError; the embedded default
    directory, beside the database, is made."""
    with pytest.raises(ConfigError, match="no such directory"):
        payload_store(Settings(payload_store=str(tmp_path / "nope")))
    default = beside_database(tmp_path / "temporal.db")
    assert default == tmp_path / "temporal.db.payloads"
    store = payload_store(Settings(), default_directory=default)
    assert isinstance(store, LocalPayloadStore)
    assert default.is_dir()
    assert payload_store(Settings()) is None


def test_a_store_url_is_a_directory_or_s3(tmp_path: Path) -> None:
    """s3://bucket/prefix gives the SDK's S3 driver; a bucketless or other URL a ConfigError."""
    s3 = payload_store(Settings(payload_store="s3://bucket/some/prefix"))
    assert s3 is not None
    assert s3.name() == S3_DRIVER_NAME
    with pytest.raises(ConfigError, match="name a bucket"):
        payload_store(Settings(payload_store="s3://"))
    with pytest.raises(ConfigError, match="use s3://bucket/prefix or a directory path"):
        payload_store(Settings(payload_store="ftp://host/x"))
    local = payload_store(Settings(payload_store=str(tmp_path)))
    assert local is not None
    assert local.name() == LOCAL_DRIVER_NAME


async def test_noting_failures_sees_the_errors_of_the_tasks_it_starts(tmp_path: Path) -> None:
    """Inside noting_failures, a store's PayloadStoreError raised in a task started there is
    noted (what a replay, whose tasks swallow it, is judged by); outside it, nothing is."""
    [driver, *_] = external_storage(Settings(payload_store=str(tmp_path))).drivers
    missing = StorageDriverClaim({"sha256": "cd" + "1" * 62})

    async def read() -> None:
        with pytest.raises(PayloadStoreError):
            await driver.retrieve(StorageDriverRetrieveContext(), [missing])

    with noting_failures() as noted:
        await asyncio.create_task(read())
    assert [e.message for e in noted] == [
        f"payload sha256:cd{'1' * 62} is missing from the payload store {tmp_path}: it was "
        "deleted, or this process has another store than the one that wrote it (set "
        "AGENTIC_LOOP_PAYLOAD_STORE)"
    ]
    with noting_failures() as later:
        pass
    await read()
    assert later == []


# ---- the threshold, through the data converter ----------------------------------------------


async def test_only_payloads_from_the_threshold_on_are_stored(tmp_path: Path) -> None:
    """A payload one byte under the threshold stays in history; one at it becomes a reference
    into the store, and both decode to their values."""
    threshold = 10_000
    converter = data_converter(
        Settings(payload_store=str(tmp_path), payload_store_threshold=threshold)
    )

    def size(text: str) -> int:
        return converter.payload_converter.to_payloads([text])[0].ByteSize()

    # A str's payload is its quoted text plus metadata and length prefixes: strings whose
    # payloads are exactly one byte under the threshold and exactly at it.
    below = next("y" * n for n in range(threshold, 0, -1) if size("y" * n) == threshold - 1)
    at = below.replace("y", "z") + "z"
    assert size(at) == threshold
    [inline, stored] = await converter.encode([below, at])
    assert inline.data == f'"{below}"'.encode()
    assert stored.metadata["messageType"] == REFERENCE_TYPE
    assert len(stored.SerializeToString()) < 500
    assert len(stored_files(tmp_path)) == 1
    assert await converter.decode([inline, stored], [str, str]) == [below, at]


async def test_without_a_store_big_payloads_stay_inline_and_references_are_explained(
    tmp_path: Path,
) -> None:
    """No store configured: a big payload stays in history as before, and a reference written
    by a process with a directory store is a PayloadStoreError saying this one has none."""
    converter = data_converter(Settings(payload_store_threshold=100))
    [inline] = await converter.encode(["q" * 1000])
    assert inline.metadata["encoding"] == b"json/plain"
    writer = data_converter(Settings(payload_store=str(tmp_path), payload_store_threshold=100))
    [reference] = await writer.encode(["r" * 1000])
    assert reference.metadata["messageType"] == REFERENCE_TYPE
    with pytest.raises(PayloadStoreError) as raised:
        await converter.decode([reference], [str])
    assert "kept in a payload store in a directory" in raised.value.message
    assert "this process has no payload store" in raised.value.message
    assert "AGENTIC_LOOP_PAYLOAD_STORE" in raised.value.message
    assert raised.value.non_retryable


def test_the_cli_explains_a_payload_store_error_in_one_line() -> None:
    """A PayloadStoreError at the top of a command is said as one sentence, not a traceback."""
    error = RuntimeError("replay failed")
    error.__cause__ = PayloadStoreError("payload sha256:ab is missing from the payload store /x")
    assert explain(error, Settings()) == (
        "cannot read this workflow's payloads: payload sha256:ab is missing from the payload "
        "store /x"
    )


def test_the_cli_explains_a_closed_run_it_cannot_replay_in_one_line() -> None:
    """A closed run this code cannot replay (its transcript is never returned in part) is one
    line naming the run and where to look, not a traceback."""
    error = ClosedRunUnreadable("cannot read run r1 of wf back: Nondeterminism\nat event 7")
    assert explain(error, Settings()) == (
        "cannot read run r1 of wf back: Nondeterminism "
        "(`agentic-loop replay --from-server` shows why)"
    )


# ---- the cut of a tool result for the model -------------------------------------------------


def tool(content: str) -> Message:
    return Message(role="tool", content=content, tool_call_id="call-1")


def test_a_tool_result_over_the_limit_is_cut_with_a_note_of_the_rest() -> None:
    """Over the limit: the first `limit` bytes, then a note of how many bytes were left out."""
    cut = cut_tool_result(tool("a" * 1500), 1000)
    assert cut.content == "a" * 1000 + "\n[... 500 more bytes of this result were left out]"
    assert cut.tool_call_id == "call-1"


def test_a_tool_result_within_the_limit_or_without_one_is_untouched() -> None:
    """At the limit, under it, with no limit, or for another role: the message as it is."""
    exact = tool("b" * 1000)
    assert cut_tool_result(exact, 1000) is exact
    assert cut_tool_result(tool("b" * 10), 1000).content == "b" * 10
    assert cut_tool_result(tool("c" * 5000), None).content == "c" * 5000
    user = Message(role="user", content="d" * 5000)
    assert cut_tool_result(user, 1000) is user


def test_the_cut_never_splits_a_character() -> None:
    """A limit that falls inside a multi-byte character keeps only whole characters, and the
    note counts the bytes left out exactly."""
    text = "가" * 100  # 3 bytes each
    cut = cut_tool_result(tool(text), 10)
    kept, _, note = cut.content.partition("\n")
    assert kept == "가" * 3
    assert note == "[... 291 more bytes of this result were left out]"


def test_the_default_limit_is_64_kib() -> None:
    """Agents are shown 64 KiB of a tool result unless their input says otherwise."""
    assert DEFAULT_TOOL_RESULT_LIMIT_BYTES == 64 * 1024
    assert Settings.from_env({}).tool_result_limit_bytes == 64 * 1024


# ---- settings -------------------------------------------------------------------------------


def test_the_payload_store_settings_are_read_from_the_environment() -> None:
    """AGENTIC_LOOP_PAYLOAD_STORE, its threshold (digits may be grouped) and its endpoint."""
    settings = Settings.from_env(
        {
            "AGENTIC_LOOP_PAYLOAD_STORE": " s3://bucket/agents ",
            "AGENTIC_LOOP_PAYLOAD_STORE_THRESHOLD": "1_048_576",
            "AGENTIC_LOOP_PAYLOAD_STORE_ENDPOINT": "http://127.0.0.1:9000",
            "AGENTIC_LOOP_TOOL_RESULT_LIMIT": "4096",
        }
    )
    assert settings.payload_store == "s3://bucket/agents"
    assert settings.payload_store_threshold == 1024 * 1024
    assert settings.payload_store_endpoint == "http://127.0.0.1:9000"
    assert settings.tool_result_limit_bytes == 4096
    unset = Settings.from_env({})
    assert unset.payload_store is None
    assert unset.payload_store_threshold == DEFAULT_PAYLOAD_STORE_THRESHOLD == 256 * 1024
    assert Settings.from_env(
        {"AGENTIC_LOOP_TOOL_RESULT_LIMIT": "None"}
    ).tool_result_limit_bytes is (None)


@pytest.mark.parametrize("value", ["0", "-1", "big", "1.5", "256KiB", str(2 * 1024 * 1024 + 1)])
def test_a_bad_threshold_is_a_one_line_config_error(value: str) -> None:
    """A threshold that is not a whole number of bytes from 1 to 2 MiB names the variable,
    the value, the range and an example, on one line."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"AGENTIC_LOOP_PAYLOAD_STORE_THRESHOLD": value})
    assert str(raised.value) == (
        f"AGENTIC_LOOP_PAYLOAD_STORE_THRESHOLD={value!r}: use a whole number of bytes from 1 "
        f"to {MAX_PAYLOAD_STORE_THRESHOLD} (Temporal's limit for one payload), e.g. 262144"
    )


@pytest.mark.parametrize("value", ["0", "-5", "lots", "64k"])
def test_a_bad_tool_result_limit_is_a_one_line_config_error(value: str) -> None:
    """A tool result limit that is neither a positive whole number of bytes nor "none" names
    the variable and what to write instead, on one line."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"AGENTIC_LOOP_TOOL_RESULT_LIMIT": value})
    message = str(raised.value)
    assert message.startswith(f"AGENTIC_LOOP_TOOL_RESULT_LIMIT={value!r}: use a whole number")
    assert '"none"' in message
    assert "\n" not in message
