"""A real S3-compatible server on loopback for the object store's tests: moto
in server mode, in a thread of the test process, on 127.0.0.1 and a free port;
stopped by the fixture that started it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from postel.pg.objectstore import ObjectStore, ObjectStoreSettings

ACCESS_KEY = "testing-key"
SECRET = "testing-secret-never-logged"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def settings(self, bucket: str, *, timeout: float = 5.0) -> ObjectStoreSettings:
        return ObjectStoreSettings(
            endpoint=self.endpoint,
            bucket=bucket,
            access_key_id=ACCESS_KEY,
            secret=SECRET,
            key_prefix="bodies/",
            timeout=timeout,
        )

    def new_bucket(self) -> ObjectStore:
        """An object store over a bucket of its own (made here)."""
        bucket = f"postel-{uuid.uuid4().hex[:12]}"
        store = ObjectStore(self.settings(bucket))
        store._client.create_bucket(Bucket=bucket)
        return store


@contextmanager
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


def age_objects(bucket: str, seconds: float) -> None:
    """Make every object of *bucket* on the test server look *seconds* older
    (its last-modified time), as if put that long ago."""
    import datetime as dt

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for key in backend.buckets[bucket].keys.values():
        key.last_modified = key.last_modified - dt.timedelta(seconds=seconds)
