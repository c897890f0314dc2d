"""A bucket as a directory: keys are relative paths, writes are atomic (temp file + rename)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mlops_template.core.ports import BlobExists, BlobNotFound

TEMP_PREFIX = ".tmp-"


class FileBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not key or key.startswith("/") or ".." in parts:
            raise ValueError(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        self._write(self._path(key), lambda handle: handle.write(data), replace=True)
        return hashlib.sha256(data).hexdigest()

    def put_if_absent(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> str:
        if not self._write(self._path(key), lambda handle: handle.write(data), replace=False):
            raise BlobExists(key)
        return hashlib.sha256(data).hexdigest()

    @staticmethod
    def _write(path: Path, fill: Callable[[BinaryIO], object], *, replace: bool) -> bool:
        """Write a temporary file beside `path`, then give it the final name in one step: a crash
        at any point leaves the old object or the whole new one, never a torn file. With
        replace=False the name is taken with a hard link, which fails if it exists already."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
            if replace:
                os.replace(tmp, path)
                return True
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        finally:
            Path(tmp).unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(key) from None

    def download_to(self, key: str, path: str | os.PathLike[str]) -> int:
        try:
            reader = self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(key) from None
        with reader, Path(path).open("wb") as out:
            shutil.copyfileobj(reader, out, 1 << 20)
            return out.tell()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path.stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str = "") -> list[str]:
        keys = [
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(TEMP_PREFIX)
        ]
        return sorted(k for k in keys if k.startswith(prefix))

    def copy(self, source: str, destination: str) -> None:
        try:
            reader = self._path(source).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(source) from None
        with reader:
            self._write(
                self._path(destination),
                lambda handle: shutil.copyfileobj(reader, handle),
                replace=True,
            )

    def claim(self, source: str, destination: str) -> None:
        # A rename is atomic: the file moves whole, and a later write under `source` creates a
        # new file that stays where it is.
        src, dst = self._path(source), self._path(destination)
        if not src.is_file():
            raise BlobNotFound(source)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(src, dst)
        except FileNotFoundError:  # another claimant took it first
            raise BlobNotFound(source) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()
