"""The bucket store: media in an S3-compatible object store (AWS S3, MinIO, Ceph, R2, GCS
interop) through boto3. A file's reference is `s3://bucket/key`, its key
`prefix/<random>/<name>`.

- Writing is a multipart upload in parts of `VIDIGEST_STORAGE_PART_BYTES` (at most one part in
  memory); a file smaller than one part is one PUT. A writer that is not committed aborts its
  upload, so a failed upload leaves no object (nor parts) behind.
- Reading for decoding copies the object into a scratch file under `data_dir/scratch` that is
  removed when the block ends (and, left by a killed process, when the next store starts).
- Credentials: the settings' keys when given, else the usual AWS chain (environment, shared
  files, instance or container role).
- Failures: no connection, a timeout, a 5xx or throttling answer raise StorageUnavailableError
  (an outage, retried without counting); any other refusal StorageError.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from vidigest.common.exceptions import MediaNotFoundError, StorageError, StorageUnavailableError
from vidigest.config import Settings

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
READ_BUFFER = 1024 * 1024  # a seekable reader fetches this much per request
_TRANSIENT_CODES = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "Throttling",
}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


def storage_error(exc: Exception, doing: str) -> StorageError:
    """`exc` from boto3 as an outage (no answer, 5xx, throttling) or a refusal."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if status >= 500 or code in _TRANSIENT_CODES:
            return StorageUnavailableError(f"the object store is unavailable ({doing}: {status})")
        return StorageError(f"the object store refused to {doing} ({code or status})")
    return StorageUnavailableError(f"the object store is unreachable ({doing})")


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _MISSING_CODES or status == 404


def _read_error(exc: ClientError | BotoCoreError, key: str) -> Exception:
    """`exc` from reading `key`: MediaNotFoundError when the object is not there."""
    if isinstance(exc, ClientError) and _missing(exc):
        return MediaNotFoundError(Path(key).name, key)
    return storage_error(exc, "read the file")


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> ("bucket", "prefix") (no slashes at the ends)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix.strip("/")


class _S3Writer:
    def __init__(self, store: S3Store, key: str) -> None:
        self.store = store
        self.key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._size = 0
        self._done = False

    @property
    def ref(self) -> str:
        return self.store.ref_of(self.key)

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        self._buffer.extend(data)
        self._size += len(data)
        while len(self._buffer) >= self.store.part_bytes:
            part = bytes(self._buffer[: self.store.part_bytes])
            del self._buffer[: self.store.part_bytes]
            self._send_part(part)

    def _send_part(self, part: bytes) -> None:
        client, bucket = self.store.client, self.store.bucket
        try:
            if self._upload_id is None:
                started = client.create_multipart_upload(Bucket=bucket, Key=self.key)
                self._upload_id = str(started["UploadId"])
            number = len(self._parts) + 1
            answer = client.upload_part(
                Bucket=bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=part
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, "store a part of the file") from exc
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> str:
        client, bucket = self.store.client, self.store.bucket
        try:
            if self._upload_id is None:
                client.put_object(Bucket=bucket, Key=self.key, Body=bytes(self._buffer))
            else:
                if self._buffer:
                    self._send_part(bytes(self._buffer))
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, "store the file") from exc
        self._buffer.clear()
        self._done = True
        return self.ref

    def abort(self) -> None:
        """Drop what was sent: the multipart upload (its parts), or nothing at all. An abort
        the store cannot take now is left to the bucket's lifecycle rule and `storage check`."""
        self._buffer.clear()
        if self._done or self._upload_id is None:
            return
        try:
            self.store.client.abort_multipart_upload(
                Bucket=self.store.bucket, Key=self.key, UploadId=self._upload_id
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not abort an upload to the object store: %r", exc)
        self._upload_id = None


class _RangeReader(io.RawIOBase):
    """A seekable reader of one object: each read is a ranged GET (buffered by the caller)."""

    def __init__(self, store: S3Store, key: str, size: int) -> None:
        self.store, self.key, self.length, self.pos = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.length}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.pos >= self.length or len(view) == 0:
            return 0
        end = min(self.length, self.pos + len(view)) - 1
        data = b"".join(self.store.iter_range_key(self.key, self.pos, end))
        view[: len(data)] = data
        self.pos += len(data)
        return len(data)


class S3Store:
    kind = "s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        scratch_dir: Path,
        part_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.scratch_dir = scratch_dir
        self.part_bytes = part_bytes
        _clear_abandoned_scratch(scratch_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        assert settings.storage_url is not None
        bucket, prefix = split_url(settings.storage_url)
        config = Config(
            s3={"addressing_style": "path" if settings.storage_path_style else "auto"},
            connect_timeout=settings.storage_timeout_seconds,
            read_timeout=settings.storage_timeout_seconds,
            # boto3's own quick retries absorb a blip; an outage is the delivery policy's
            retries={"mode": "standard", "max_attempts": 3},
        )
        secret = settings.storage_secret_access_key
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.storage_endpoint_url,
            region_name=settings.storage_region,
            aws_access_key_id=settings.storage_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=config,
        )
        return cls(
            client,
            bucket,
            prefix,
            scratch_dir=settings.data_dir / "scratch",
            part_bytes=settings.storage_part_bytes,
        )

    # --- references ------------------------------------------------------------------------

    def ref_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def key_of(self, ref: str) -> str:
        if not self.owns(ref):
            raise StorageError("not an object of this store")
        return ref[len(f"s3://{self.bucket}/") :]

    def owns(self, ref: str) -> bool:
        head = f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"
        return ref.startswith(head) and len(ref) > len(head)

    # --- writing ---------------------------------------------------------------------------

    def writer(self, name: str) -> _S3Writer:
        folder = uuid.uuid4().hex
        key = f"{self.prefix}/{folder}/{name}" if self.prefix else f"{folder}/{name}"
        return _S3Writer(self, key)

    def put_file(self, source: Path, name: str) -> str:
        writer = self.writer(name)
        try:
            with source.open("rb") as f:
                while chunk := f.read(CHUNK * 4):
                    writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    # --- reading ---------------------------------------------------------------------------

    def size(self, ref: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key_of(ref))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise storage_error(exc, "read the file") from exc
        except BotoCoreError as exc:
            raise storage_error(exc, "read the file") from exc
        return int(head["ContentLength"])

    def iter_range(self, ref: str, start: int, end: int) -> Iterator[bytes]:
        return self.iter_range_key(self.key_of(ref), start, end)

    def iter_range_key(self, key: str, start: int, end: int) -> Iterator[bytes]:
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}"
            )
            yield from answer["Body"].iter_chunks(CHUNK)
        except (ClientError, BotoCoreError) as exc:
            raise _read_error(exc, key) from exc

    def open(self, ref: str) -> IO[bytes]:
        size = self.size(ref)
        if size is None:
            raise MediaNotFoundError(Path(ref).name, ref)
        return io.BufferedReader(_RangeReader(self, self.key_of(ref), size), READ_BUFFER)

    @contextlib.contextmanager
    def local_copy(self, ref: str) -> Iterator[Path]:
        """The object in a scratch file of this process, removed when the block ends (the
        copy is streamed: memory stays at one chunk). A local path (a file registered in
        place on this machine) is read where it is."""
        if not ref.startswith("s3://"):
            yield Path(ref)
            return
        key = self.key_of(ref)
        folder = self.scratch_dir / f"{os.getpid()}-{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        try:
            target = folder / Path(key).name
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=key)
                with target.open("wb") as out:
                    for chunk in answer["Body"].iter_chunks(CHUNK * 4):
                        out.write(chunk)
            except (ClientError, BotoCoreError) as exc:
                raise _read_error(exc, key) from exc
            yield target
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def presigned_url(self, ref: str, seconds: int, *, filename: str, media_type: str) -> str:
        disposition = f"inline; filename*=UTF-8''{quote(filename, safe='')}"
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.key_of(ref),
                "ResponseContentType": media_type,
                "ResponseContentDisposition": disposition,
            },
            ExpiresIn=seconds,
        )
        return url

    # --- deleting, listing -----------------------------------------------------------------

    def delete(self, ref: str) -> None:
        if not self.owns(ref):
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key_of(ref))
        except ClientError as exc:
            if not _missing(exc):
                raise storage_error(exc, "delete the file") from exc
        except BotoCoreError as exc:
            raise storage_error(exc, "delete the file") from exc

    def list_refs(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield self.ref_of(str(item["Key"]))
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, "list the files") from exc

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, "open the bucket") from exc


def _clear_abandoned_scratch(scratch_dir: Path) -> None:
    """Remove the scratch copies of processes that are gone (killed mid-file)."""
    if not scratch_dir.is_dir():
        return
    for entry in scratch_dir.iterdir():
        pid_text = entry.name.split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:
            pass
