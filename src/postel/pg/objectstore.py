"""Message bodies in an S3-compatible object store (optional; the s3 extra).

Objects are named by the body's SHA-256 in hex (after an optional key prefix),
so they are content-addressed: a second PUT of the same body writes the same
bytes again and is harmless. The body's row in PostgreSQL then has data NULL.

Every request is bounded (connect and read timeout, one retry); any failure to
reach the service or a refusal becomes PgObjectStoreUnavailable, a
StoreUnavailable, so SMTP answers 4xx and never 250 without the object stored.
The client (boto3) is blocking and thread-safe: the async methods run it in
worker threads, off the event loop. The secret is never in a repr or a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from postel.pg.errors import PgObjectMissing, PgObjectStoreUnavailable, PgSettingsError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger("postel.pg")

POOL_CONNECTIONS = 20  # concurrent requests per node (deliveries, reads, verifydata)


@dataclass(frozen=True)
class ObjectStoreSettings:
    """Where the bodies' objects are: endpoint URL, bucket, region, access key
    (id and secret), key prefix, and the timeout of one request in seconds."""

    endpoint: str
    bucket: str
    access_key_id: str
    secret: str = field(default="", repr=False)  # never in a repr or a log line
    region: str = "us-east-1"
    key_prefix: str = ""
    timeout: float = 10.0

    @property
    def where(self) -> str:
        """endpoint/bucket, for logs and messages (never the secret)."""
        return f"object store {self.endpoint.rstrip('/')}/{self.bucket}"


def read_secret(path: Path, *, where: str = "[storage.object_store] secret_file") -> str:
    """The first line of *path*; PgSettingsError says what and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PgSettingsError(f"{where}: cannot read {path}: {type(exc).__name__}") from None
    secret = text.splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise PgSettingsError(f"{where}: {path} is empty")
    return secret


class ObjectStore:
    """The bucket of message bodies; blocking methods and their async forms."""

    def __init__(self, settings: ObjectStoreSettings) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise PgSettingsError(
                "[storage.object_store] needs boto3 (pip install 'postel[s3]')"
            ) from exc
        self.settings = settings
        self.where = settings.where
        config = Config(
            connect_timeout=settings.timeout,
            read_timeout=settings.timeout,
            retries={"total_max_attempts": 2, "mode": "standard"},
            max_pool_connections=POOL_CONNECTIONS,
            s3={"addressing_style": "path"},
        )
        self._client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret,
            config=config,
        )

    def key(self, digest: bytes) -> str:
        return self.settings.key_prefix + digest.hex()

    def _failed(self, what: str, digest: bytes, exc: Exception) -> PgObjectStoreUnavailable:
        reason = _reason(exc)
        log.warning(
            "object store request failed",
            extra={"store": self.where, "op": what, "body": digest.hex(), "err": reason},
        )
        return PgObjectStoreUnavailable(f"{self.where}: {what} of body {digest.hex()}: {reason}")

    def put(self, digest: bytes, data: bytes) -> None:
        """Store *data*, whose SHA-256 is *digest* (again: harmless)."""
        try:
            self._client.put_object(Bucket=self.settings.bucket, Key=self.key(digest), Body=data)
        except Exception as exc:  # botocore's errors: connection, timeout, refusal
            raise self._failed("PUT", digest, exc) from None

    def get(self, digest: bytes) -> bytes:
        """The body named *digest*; PgObjectMissing when it is not there or its
        content does not match the name."""
        try:
            answer = self._client.get_object(Bucket=self.settings.bucket, Key=self.key(digest))
            data = answer["Body"].read()
        except Exception as exc:
            if _not_found(exc):
                raise PgObjectMissing(f"{self.where}: body {digest.hex()}: no object") from None
            raise self._failed("GET", digest, exc) from None
        if hashlib.sha256(data).digest() != digest:
            raise PgObjectMissing(
                f"{self.where}: body {digest.hex()}: the object's content does not match "
                "its SHA-256"
            )
        return data

    def size(self, digest: bytes) -> int | None:
        """The object's size in bytes (HEAD); None when there is none."""
        try:
            answer = self._client.head_object(Bucket=self.settings.bucket, Key=self.key(digest))
        except Exception as exc:
            if _not_found(exc):
                return None
            raise self._failed("HEAD", digest, exc) from None
        return int(answer["ContentLength"])

    def delete(self, digest: bytes) -> None:
        """Delete the object (none there: nothing happens)."""
        try:
            self._client.delete_object(Bucket=self.settings.bucket, Key=self.key(digest))
        except Exception as exc:
            raise self._failed("DELETE", digest, exc) from None

    def list_page(self, after: bytes | None, limit: int) -> ObjectPage:
        """Up to *limit* objects named after *after* (None: from the first), in
        name order, with their last-modified times. Names that are not a
        SHA-256 in hex after the key prefix are not postel's and are left out."""
        prefix = self.settings.key_prefix
        start = self.key(after) if after is not None else ""
        try:
            answer = self._client.list_objects_v2(
                Bucket=self.settings.bucket, Prefix=prefix, StartAfter=start, MaxKeys=limit
            )
        except Exception as exc:
            raise self._failed("LIST", after or b"", exc) from None
        found: list[tuple[bytes, datetime]] = []
        last: bytes | None = None
        for item in answer.get("Contents", []):
            name = item["Key"][len(prefix) :]
            digest = _digest_of(name)
            if digest is not None:
                found.append((digest, item["LastModified"]))
                last = digest
        more = bool(answer.get("IsTruncated"))
        if more and last is None:  # a whole page of other names: go on after them
            raise PgObjectStoreUnavailable(
                f"{self.where}: a page of {limit} names under {prefix!r} that are not bodies"
            )
        return ObjectPage(found, last if more else None)

    def delete_many(self, digests: list[bytes]) -> None:
        """Delete the objects of *digests* (at most 1000: one request)."""
        if not digests:
            return
        try:
            answer = self._client.delete_objects(
                Bucket=self.settings.bucket,
                Delete={"Objects": [{"Key": self.key(d)} for d in digests], "Quiet": True},
            )
        except Exception as exc:
            raise self._failed("DELETE", digests[0], exc) from None
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            raise PgObjectStoreUnavailable(
                f"{self.where}: DELETE of {first.get('Key', '?')}: {first.get('Code', 'error')} "
                f"({len(errors)} of {len(digests)} objects not deleted)"
            )

    async def aput(self, digest: bytes, data: bytes) -> None:
        await asyncio.to_thread(self.put, digest, data)

    async def aput_content(self, data: bytes) -> bytes:
        """Store *data* under its SHA-256 (computed off the event loop); the digest."""
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).digest())
        await self.aput(digest, data)
        return digest

    async def aget(self, digest: bytes) -> bytes:
        return await asyncio.to_thread(self.get, digest)

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class ObjectPage:
    """One page of a bucket's listing: (SHA-256, last modified) of each object,
    and the name to list after for the next page (None: the last page)."""

    objects: list[tuple[bytes, datetime]]
    next_after: bytes | None


def _digest_of(name: str) -> bytes | None:
    if len(name) != 64 or name != name.lower():
        return None
    try:
        return bytes.fromhex(name)
    except ValueError:
        return None


def _not_found(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def _reason(exc: Exception) -> str:
    """One line: the service's error code or the connection's failure."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        return f"{error.get('Code', 'error')} (HTTP {status})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
