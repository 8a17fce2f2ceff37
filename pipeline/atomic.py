"""Files written whole: into a temporary file in the target's folder, then renamed over the target.

A reader (a report author, the annual run checking its files, Excel) sees the old file or the new one,
never half of one. A writer holds an exclusive ``flock`` on its temporary file while writing; a kill
(``SIGKILL``, a full disk, a power cut) releases it, so the next write into that folder removes what a
dead writer left and never what a live one is writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

#: Prefix of the temporary files of outputs; the archive keeps its own (``.incoming-``).
TEMP_PREFIX = ".partial-"


def _locked_temp(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new temporary file in ``folder``, open and exclusively locked by us."""
    while True:
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # A cleaner may have taken it for a dead writer's between mkstemp and flock: then start again.
            if os.stat(name).st_ino == os.fstat(fd).st_ino:
                return fd, Path(name)
        except FileNotFoundError:
            pass
        os.close(fd)


def remove_stale(folder: Path, prefix: str = TEMP_PREFIX) -> list[Path]:
    """Remove the temporary files of dead writers in ``folder``; return them."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.glob(f"{prefix}*"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live writer's
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def replacing(path: Path, *, prefix: str = TEMP_PREFIX, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; renamed over ``path`` when the block ends
    without an exception, removed when it raises. ``mode``: the file's permissions."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale(folder, prefix)
    fd, tmp = _locked_temp(folder, prefix, path.suffix)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes, **kwargs) -> Path:
    """Write ``data`` to ``path`` whole."""
    with replacing(path, **kwargs) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8", **kwargs) -> Path:
    """Write ``text`` to ``path`` whole."""
    return write_bytes(path, text.encode(encoding), **kwargs)


def save(path: Path, save_to: Callable[[Path], object], **kwargs) -> Path:
    """``save_to(temporary path)`` (``Workbook.save``, ``Document.save``), then rename it to ``path``."""
    with replacing(path, **kwargs) as tmp:
        save_to(tmp)
    return path
