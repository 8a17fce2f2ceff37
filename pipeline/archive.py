"""The raw-file archive: every submitted byte, stored once under its SHA-256, never modified."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InboxFile:
    """A file found in an inbox month, and where its bytes are archived."""

    path: Path
    name: str
    sha256: str
    size_bytes: int
    received_at_utc: dt.datetime
    archived: Path


def archive_path(archive_root: Path, sha256: str) -> Path:
    # The name is the hash alone: a clerk's file name never becomes part of a path we build.
    return archive_root / sha256[:2] / sha256


def list_inbox(folder: Path) -> list[Path]:
    """Regular files of an inbox month, in name order; links and hidden files are not returns."""
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith((".", "~$"))),
        key=lambda p: p.name,
    )


def archive_file(path: Path, archive_root: Path) -> tuple[InboxFile, bytes]:
    """Read ``path`` once, store its bytes in the archive unless already there, return both."""
    stat = path.stat()
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    target = archive_path(archive_root, sha)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary name, then rename: a crash never leaves a half file under a hash name.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    received = dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC).replace(tzinfo=None, microsecond=0)
    info = InboxFile(
        path=path, name=path.name, sha256=sha, size_bytes=len(data),
        received_at_utc=received, archived=target,
    )
    return info, data


#: Files archived at once: each waits on its own fsync, and the file system commits concurrent
#: fsyncs together (300 small files: 0.57 s one by one, 0.13 s eight at a time on the bench machine).
ARCHIVE_THREADS = 8


def archive_files(paths: Sequence[Path], archive_root: Path) -> Iterator[tuple[InboxFile, bytes]]:
    """``archive_file`` for every path, several at a time, yielded in the order of ``paths``.

    Each file is yielded once archived, while the next ones are being archived: the caller reads
    one file while the following ones wait on the disk.
    """
    with ThreadPoolExecutor(max_workers=ARCHIVE_THREADS, thread_name_prefix="archive") as pool:
        yield from pool.map(archive_file, paths, [archive_root] * len(paths))
