"""Payloads too big for history, kept outside it: history holds a reference instead.

Temporal rejects a payload over 2 MB, so one large tool result or model reply would fail the
run. The SDK's external payload storage (temporalio.converter.ExternalStorage, experimental
in temporalio 1.35) moves every payload from a size on to a storage driver and records a
reference. This module gives it its drivers:

- a directory (LocalPayloadStore): the embedded server's default, beside its database, and
  any directory AGENTIC_LOOP_PAYLOAD_STORE names;
- S3 (or an S3-compatible server) through the SDK's own S3StorageDriver, for
  AGENTIC_LOOP_PAYLOAD_STORE=s3://bucket/prefix.

The SDK stores what the payload codec produced, so with AGENTIC_LOOP_CODEC_KEYS set the
stored bytes are sealed too. A reference that cannot be resolved (no store configured, the
store or the object gone) is a PayloadStoreError: non-retryable, so a workflow fails with a
message naming the reference and the store instead of retrying its task forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.aws.s3driver import S3StorageDriver, S3StorageDriverClient
from temporalio.converter import (
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverSelectContext,
    StorageDriverStoreContext,
)
from temporalio.exceptions import ApplicationError

from agentic_loop.config import ConfigError, Settings

STORE_VARIABLE = "AGENTIC_LOOP_PAYLOAD_STORE"
# Recorded in every reference: renaming one makes the payloads it stored unreadable.
LOCAL_DRIVER_NAME = "agentic-loop.directory"
S3_DRIVER_NAME = "aws.s3driver"  # the SDK's default, so a plain SDK program reads ours too
ERROR_TYPE = "PAYLOAD_STORE_MISSING"


class PayloadStoreError(ApplicationError):
    """A stored payload that cannot be had. Non-retryable: waiting does not bring it back."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type=ERROR_TYPE, non_retryable=True)


# The PayloadStoreErrors raised within a `noting_failures` block (and the tasks it starts).
_noted: ContextVar[list[PayloadStoreError] | None] = ContextVar("payload_store_noted", default=None)


@contextlib.contextmanager
def noting_failures() -> Iterator[list[PayloadStoreError]]:
    """The PayloadStoreErrors the payload stores raise while the block runs, first first, in
    this task and the tasks it starts. A replay needs it: the SDK turns such an error into a
    command to fail the run, which the recorded history then contradicts, and the replay
    reports a nondeterminism error that no longer names the payload or the store."""
    failures: list[PayloadStoreError] = []
    token = _noted.set(failures)
    try:
        yield failures
    finally:
        _noted.reset(token)


def _note(error: PayloadStoreError) -> PayloadStoreError:
    failures = _noted.get()
    if failures is not None:
        failures.append(error)
    return error


class _Noting(StorageDriver):
    """A driver whose PayloadStoreErrors are noted (noting_failures) as they pass."""

    def __init__(self, inner: StorageDriver) -> None:
        self.inner = inner

    def name(self) -> str:
        return self.inner.name()

    def type(self) -> str:
        return self.inner.type()

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        try:
            return await self.inner.store(context, payloads)
        except PayloadStoreError as e:
            raise _note(e) from None

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        try:
            return await self.inner.retrieve(context, claims)
        except PayloadStoreError as e:
            raise _note(e) from None


class LocalPayloadStore(StorageDriver):
    """Payloads in a directory, one file each, named by the sha256 of its bytes: a retried
    activity stores the same file again, and identical payloads are kept once."""

    def __init__(self, directory: Path | str, *, create: bool = False) -> None:
        self.directory = Path(directory).expanduser()
        if create:
            self.directory.mkdir(parents=True, exist_ok=True)
        elif not self.directory.is_dir():
            raise ConfigError(
                f"{STORE_VARIABLE}={str(directory)!r}: no such directory; create it (every "
                "worker, client and replayer must reach the same one) or name another"
            )

    def name(self) -> str:
        return LOCAL_DRIVER_NAME

    def type(self) -> str:
        return "agentic-loop.directory"

    def _path(self, digest: str) -> Path:
        # Two-character fan-out, so no single directory holds millions of files.
        return self.directory / digest[:2] / digest

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        return await asyncio.to_thread(lambda: [self._store_one(p) for p in payloads])

    def _store_one(self, payload: Payload) -> StorageDriverClaim:
        data = payload.SerializeToString(deterministic=True)
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside, then renamed: a reader never sees half a file, and two writers
            # of the same payload both end with the same complete one.
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        return StorageDriverClaim({"sha256": digest})

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        return await asyncio.to_thread(lambda: [self._retrieve_one(c) for c in claims])

    def _retrieve_one(self, claim: StorageDriverClaim) -> Payload:
        digest = claim.claim_data.get("sha256", "")
        if not self.directory.is_dir():
            raise PayloadStoreError(
                f"payload sha256:{digest} is in the payload store {self.directory}, which does "
                f"not exist here: set {STORE_VARIABLE} to the directory the workers use"
            )
        try:
            data = self._path(digest).read_bytes()
        except FileNotFoundError:
            raise PayloadStoreError(
                f"payload sha256:{digest} is missing from the payload store {self.directory}: "
                f"it was deleted, or this process has another store than the one that wrote "
                f"it (set {STORE_VARIABLE})"
            ) from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise PayloadStoreError(
                f"payload sha256:{digest} in the payload store {self.directory} does not match "
                "its hash: the file was altered"
            )
        payload = Payload()
        payload.ParseFromString(data)
        return payload


class _Unconfigured(StorageDriver):
    """Stands in for a driver this process lacks, so a reference to it fails with a sentence
    (and for good) rather than the SDK's "No driver found", which a workflow task retries
    forever."""

    def __init__(self, driver_name: str, wanted: str, configured: str) -> None:
        self._name = driver_name
        self._wanted = wanted
        self._configured = configured

    def name(self) -> str:
        return self._name

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        raise AssertionError("never selected for storing")  # the selector returns the store

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        where = ", ".join(f"{k}={v}" for c in claims for k, v in c.claim_data.items())
        raise PayloadStoreError(
            f"a payload of this history is kept in {self._wanted} ({where}), but this process "
            f"has {self._configured}: set {STORE_VARIABLE} as the workers have it"
        )


class _S3Store(StorageDriver):
    """The SDK's S3StorageDriver, with its failures to find an object or a bucket turned into
    PayloadStoreError (it wraps every failure in a RuntimeError, transient or not)."""

    def __init__(self, inner: S3StorageDriver, url: str) -> None:
        self._inner = inner
        self.url = url

    def name(self) -> str:
        return self._inner.name()

    def type(self) -> str:
        return self._inner.type()

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        try:
            return await self._inner.store(context, payloads)
        except RuntimeError as e:
            missing = _missing(e)
            if missing is None:
                raise  # transient, perhaps: the caller's retries apply
            raise missing from None

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        try:
            return await self._inner.retrieve(context, claims)
        except RuntimeError as e:
            missing = _missing(e)
            if missing is None:
                raise  # transient, perhaps: the caller's retries apply
            raise missing from None


def _missing(error: RuntimeError) -> PayloadStoreError | None:
    cause = error.__cause__
    if isinstance(cause, PayloadStoreError):
        return cause
    return None


class _Boto3Client(S3StorageDriverClient):
    """S3 calls through boto3, each in a thread: unlike aioboto3's client, one boto3 client is
    not tied to an event loop, so the plugin can make it once for every loop that uses it.
    Keys are put under the URL's prefix."""

    def __init__(self, bucket: str, prefix: str, endpoint: str | None) -> None:
        try:
            # By name: boto3 is optional (only S3 stores need it), and so are its type stubs.
            boto3 = importlib.import_module("boto3")
        except ImportError:
            raise ConfigError(
                f"{STORE_VARIABLE}=s3://...: boto3 is not installed; `pip install boto3`"
            ) from None
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self._client: Any = boto3.client("s3", endpoint_url=endpoint)

    def describe(self) -> Mapping[str, str]:
        # Appended by the SDK's driver to its error messages.
        return {"prefix": self.prefix or "(none)", "endpoint": self.endpoint or "AWS"}

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self, bucket: str, key: str) -> str:
        return f"s3://{bucket}/{self._key(key)}"

    def _raise_missing(self, error: Exception, bucket: str, key: str) -> None:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            raise PayloadStoreError(
                f"payload {self._where(bucket, key)}: the payload store's bucket {bucket!r} "
                f"does not exist (create it, or set {STORE_VARIABLE} to one that does)"
            ) from None
        if code in ("NoSuchKey", "404"):
            raise PayloadStoreError(
                f"payload {self._where(bucket, key)} is missing from the payload store: it was "
                f"deleted, or this process has another store than the one that wrote it "
                f"(set {STORE_VARIABLE})"
            ) from None

    async def object_exists(self, *, bucket: str, key: str) -> bool:
        def head() -> bool:
            try:
                self._client.head_object(Bucket=bucket, Key=self._key(key))
            except Exception as e:
                code = str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))
                if code in ("404", "NoSuchKey"):
                    return False
                self._raise_missing(e, bucket, key)
                raise
            return True

        return await asyncio.to_thread(head)

    async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
        def put() -> None:
            try:
                self._client.put_object(Bucket=bucket, Key=self._key(key), Body=data)
            except Exception as e:
                self._raise_missing(e, bucket, key)
                raise

        await asyncio.to_thread(put)

    async def get_object(self, *, bucket: str, key: str) -> bytes:
        def get() -> bytes:
            try:
                response = self._client.get_object(Bucket=bucket, Key=self._key(key))
            except Exception as e:
                self._raise_missing(e, bucket, key)
                raise
            body: bytes = response["Body"].read()
            return body

        return await asyncio.to_thread(get)


def s3_store(url: str, endpoint: str | None) -> StorageDriver:
    """The SDK's S3 driver on bucket and prefix of `url` (s3://bucket/prefix)."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ConfigError(f"{STORE_VARIABLE}={url!r}: name a bucket, e.g. s3://my-bucket/agents")
    client = _Boto3Client(bucket, prefix.strip("/"), endpoint)
    return _S3Store(S3StorageDriver(client=client, bucket=bucket, driver_name=S3_DRIVER_NAME), url)


def payload_store(
    settings: Settings, default_directory: Path | None = None
) -> StorageDriver | None:
    """The store the settings name (AGENTIC_LOOP_PAYLOAD_STORE), else a directory of the
    embedded server's (`default_directory`, created if need be), else None."""
    where = settings.payload_store
    if where is None:
        return (
            None if default_directory is None else LocalPayloadStore(default_directory, create=True)
        )
    if where.startswith("s3://"):
        return s3_store(where, settings.payload_store_endpoint)
    if "://" in where:
        raise ConfigError(f"{STORE_VARIABLE}={where!r}: use s3://bucket/prefix or a directory path")
    return LocalPayloadStore(where)


def _describe(driver: StorageDriver | None) -> str:
    if isinstance(driver, LocalPayloadStore):
        return f"the payload store {driver.directory}"
    if isinstance(driver, _S3Store):
        return f"the payload store {driver.url}"
    return "no payload store"


def external_storage(settings: Settings, default_directory: Path | None = None) -> ExternalStorage:
    """What the SDK's converter stores big payloads with: the configured store (none: big
    payloads stay inline, as without this), and stand-ins for the other kind, which explain a
    reference this process cannot resolve."""
    configured = payload_store(settings, default_directory)
    store = None if configured is None else _Noting(configured)
    drivers: list[StorageDriver] = [] if store is None else [store]
    for name, wanted in ((LOCAL_DRIVER_NAME, "a directory"), (S3_DRIVER_NAME, "S3")):
        if store is None or store.name() != name:
            stand_in = _Unconfigured(name, f"a payload store in {wanted}", _describe(configured))
            drivers.append(_Noting(stand_in))

    def select(context: StorageDriverSelectContext, payload: Payload) -> StorageDriver | None:
        return store  # the threshold is the SDK's to apply, before it asks

    return ExternalStorage(
        drivers=drivers,
        driver_selector=select,
        payload_size_threshold=settings.payload_store_threshold,
    )


def beside_database(db_filename: str | Path) -> Path:
    """The embedded server's payload directory: next to its SQLite file, so the two are kept,
    moved and deleted together."""
    path = Path(db_filename).expanduser()
    return path.with_name(path.name + ".payloads")
