"""The bytes of a simulated save file: a real serialized archive of what was saved.

Why real bytes: issue 3 item 4 wants a corrupted or truncated transfer to fail on restore, as on
IBM i. So the archive carries every saved object's description and a payload whose length follows
the object's size (times ``size_scale``, so the disk is not filled), and ends with a SHA-256 over
everything before it. RSTLIB reads only what the archive says, never the source node's database.

Layout (all integers big-endian)::

    MAGIC (14) | body length u64 | body | SHA-256 of the three previous parts (32) | zero padding
    body = header length u32 | header JSON | object payloads in header order

The file is padded to a multiple of 528 bytes, the save-file record length [G] (ibmi.md §5.1).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"IBMISIM-SAVF\x00\x01"
RECORD_LENGTH = 528
_CHUNK = 1 << 20


class SavfError(Exception):
    """The save file cannot be used for a restore."""


class SavfEmpty(SavfError):
    """The save file holds no data (CLRSAVF or never saved into)."""


class SavfDamaged(SavfError):
    """Wrong format, truncated, or the checksum does not match: the transfer damaged it."""


@dataclass(frozen=True)
class ArchivedObject:
    """Description of one saved object, as recorded in the archive header."""

    name: str
    obj_type: str
    attribute: str
    size_bytes: int
    version: int
    content_hash: str
    owner: str
    text: str
    payload_len: int
    is_savf: bool = False
    created_at: str = ""  # ISO timestamp; restore keeps it (object identity across nodes)
    path: str = ""  # IFS path or QDLS folder/document of SAV/SAVDLO ('' for library objects)


def synthetic_payload(content_hash: str, length: int) -> Iterator[bytes]:
    """Deterministic bytes standing for an object's data (same hash, same bytes)."""
    rng = random.Random(content_hash)
    remaining = length
    while remaining > 0:
        size = min(_CHUNK, remaining)
        yield rng.randbytes(size)
        remaining -= size


def payload_length(size_bytes: int, size_scale: float) -> int:
    """Scaled payload length of an object of ``size_bytes`` nominal bytes (at least 1)."""
    return max(1, int(size_bytes * size_scale))


def write_archive(
    path: Path,
    meta: dict[str, Any],
    objects: list[ArchivedObject],
    payloads: Iterator[Iterator[bytes]],
) -> int:
    """Write the archive to ``path`` (replacing it) and return its length in bytes.

    :param meta: command, library, saved_at, system name, ... (free-form, JSON)
    :param objects: one entry per object, in payload order
    :param payloads: one byte-chunk iterator per object, yielding exactly ``payload_len`` bytes
    """
    header = json.dumps({**meta, "objects": [asdict(o) for o in objects]}).encode()
    body_len = 4 + len(header) + sum(o.payload_len for o in objects)
    digest = hashlib.sha256()
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:

        def put(data: bytes) -> None:
            digest.update(data)
            out.write(data)

        put(MAGIC + struct.pack(">Q", body_len))
        put(struct.pack(">I", len(header)) + header)
        for obj, chunks in zip(objects, payloads, strict=True):
            written = 0
            for chunk in chunks:
                written += len(chunk)
                put(chunk)
            if written != obj.payload_len:
                raise ValueError(f"payload of {obj.name} is {written}, expected {obj.payload_len}")
        out.write(digest.digest())
        total = len(MAGIC) + 8 + body_len + 32
        pad = (-total) % RECORD_LENGTH
        out.write(b"\0" * pad)
    os.replace(tmp, path)
    return total + pad


@dataclass(frozen=True)
class Archive:
    """A verified archive: its header and where each object's payload starts in the file."""

    meta: dict[str, Any]
    objects: list[ArchivedObject]
    offsets: list[int]
    path: Path

    def read_payload(self, index: int) -> bytes:
        """The payload bytes of object ``index`` (used to restore save files inside a save)."""
        with self.path.open("rb") as src:
            src.seek(self.offsets[index])
            return src.read(self.objects[index].payload_len)


def read_archive(path: Path) -> Archive:
    """Verify and read an archive; raise :class:`SavfEmpty` or :class:`SavfDamaged`."""
    size = path.stat().st_size
    if size == 0:
        raise SavfEmpty(str(path))
    with path.open("rb") as src:
        head = src.read(len(MAGIC) + 8)
        if len(head) < len(MAGIC) + 8 or head[: len(MAGIC)] != MAGIC:
            raise SavfDamaged("not a simulator save-file archive (bad magic)")
        (body_len,) = struct.unpack(">Q", head[len(MAGIC) :])
        expected = len(MAGIC) + 8 + body_len + 32
        if size < expected:
            raise SavfDamaged(f"truncated: {size} bytes, archive needs {expected}")
        if size != expected + ((-expected) % RECORD_LENGTH):
            raise SavfDamaged(f"length {size} does not match the archive ({expected} + padding)")
        digest = hashlib.sha256(head)
        header_len_raw = src.read(4)
        digest.update(header_len_raw)
        (header_len,) = struct.unpack(">I", header_len_raw)
        if header_len > body_len - 4:
            raise SavfDamaged("header length out of range")
        header_raw = src.read(header_len)
        digest.update(header_raw)
        _hash_exactly(src, digest, body_len - 4 - header_len)
        if src.read(32) != digest.digest():
            raise SavfDamaged("checksum mismatch")
        if any(src.read()):
            raise SavfDamaged("padding is not zero")
    try:
        header = json.loads(header_raw)
        objects = [ArchivedObject(**o) for o in header.pop("objects")]
    except (ValueError, TypeError, KeyError) as exc:  # checksum matched but content is odd
        raise SavfDamaged(f"header unreadable: {exc}") from exc
    offsets: list[int] = []
    position = len(MAGIC) + 8 + 4 + header_len
    for obj in objects:
        offsets.append(position)
        position += obj.payload_len
    return Archive(header, objects, offsets, path)


def _hash_exactly(src: BinaryIO, digest: Any, length: int) -> None:
    remaining = length
    while remaining > 0:
        chunk = src.read(min(_CHUNK, remaining))
        if not chunk:
            raise SavfDamaged("truncated inside the payload")
        digest.update(chunk)
        remaining -= len(chunk)
