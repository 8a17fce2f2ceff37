"""The date system of a legacy ``.xls`` workbook, which python-calamine honours but does not expose.

calamine converts date-formatted cells with the workbook's own epoch; a date typed as a plain number
(``43891``) is left a number, and the parser needs the epoch to read it. The epoch is the BIFF
``DATEMODE`` record (0x0022) of the workbook globals, read here from the ``Workbook`` (BIFF8) or
``Book`` (BIFF5) stream of the OLE compound file ([MS-CFB]) without any further dependency.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from typing import NamedTuple

from pipeline.intake.safety import OLE_MAGIC

log = logging.getLogger(__name__)

_DATEMODE, _BOUNDSHEET, _EOF = 0x0022, 0x0085, 0x000A
#: Records are walked this far into the stream at most: DATEMODE stands before the fonts, within the first KB.
_GLOBALS_SCAN_BYTES = 256 * 1024
#: Sector numbers from here up are markers (end of chain, free, FAT, DIFAT), never sectors.
_MAXREGSECT = 0xFFFFFFFA
_DIR_ENTRY = 128
_NOSTREAM = 0xFFFFFFFF


class _Entry(NamedTuple):
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    left: int
    right: int
    child: int
    start: int
    size: int


class _Container:
    """Just enough of an OLE compound file to read the start of one top-level stream."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        major, = struct.unpack_from("<H", data, 0x1A)
        shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
        if (major, shift, mini_shift) not in ((3, 9, 6), (4, 12, 6)):
            raise ValueError(f"not a compound file of version 3 or 4 (version {major}, sector shift {shift})")
        self.sector = 1 << shift
        self.mini_sector = 1 << mini_shift
        self.major = major
        (n_fat, self.dir_start, _, self.mini_cutoff, self.minifat_start, _, difat_next, n_difat,
         ) = struct.unpack_from("<8I", data, 0x2C)
        fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s < _MAXREGSECT]
        per_difat = self.sector // 4 - 1
        # A looping DIFAT chain ends where a real one must: it cannot have more sectors than the file.
        for _ in range(min(n_difat, len(data) // self.sector)):
            if difat_next >= _MAXREGSECT:
                break
            entries = struct.unpack_from(f"<{per_difat + 1}I", data, self._offset(difat_next))
            fat_sectors += [s for s in entries[:-1] if s < _MAXREGSECT]
            difat_next = entries[-1]
        fat = b"".join(self._sector_bytes(s) for s in fat_sectors[:n_fat])
        self.fat = struct.unpack(f"<{len(fat) // 4}I", fat)

    def _offset(self, sector: int) -> int:
        # Sector 0 follows the 512-byte header (a version-4 file pads the header to 4,096 bytes).
        return (sector + 1) * self.sector

    def _sector_bytes(self, sector: int) -> bytes:
        start = self._offset(sector)
        # A last sector cut short is read as far as it goes (some writers do not pad it).
        if start >= len(self.data):
            raise ValueError(f"sector {sector} past the end of the file")
        return self.data[start:start + self.sector]

    def _chain(self, start: int, table: tuple[int, ...], limit: int) -> Iterator[int]:
        """Sector numbers of the chain from ``start`` through ``table``, at most ``limit`` of them."""
        seen: set[int] = set()
        sector = start
        while sector < _MAXREGSECT and len(seen) < limit:
            if sector in seen or sector >= len(table):
                raise ValueError(f"broken sector chain at {sector}")
            seen.add(sector)
            yield sector
            sector = table[sector]

    def _read(self, start: int, size: int) -> bytes:
        """The first ``size`` bytes of the regular-sector chain from ``start``."""
        count = -(-size // self.sector)
        return b"".join(self._sector_bytes(s) for s in self._chain(start, self.fat, count))[:size]

    def stream_head(self, names: tuple[str, ...], size: int) -> bytes | None:
        """The first ``size`` bytes of the root storage's stream with one of ``names``, or None if there is none."""
        directory = self._read(self.dir_start, len(self.fat) * self.sector)
        entries = len(directory) // _DIR_ENTRY

        def entry(i: int) -> _Entry:
            raw = directory[i * _DIR_ENTRY:(i + 1) * _DIR_ENTRY]
            name_len, kind = struct.unpack_from("<HB", raw, 0x40)
            left, right, child = struct.unpack_from("<3I", raw, 0x44)
            start, length = struct.unpack_from("<IQ", raw, 0x74)
            if self.major == 3:
                length &= 0xFFFFFFFF  # version-3 writers may leave garbage in the high half
            return _Entry(raw[:max(name_len - 2, 0)].decode("utf-16-le", "replace"), kind, left, right, child, start,
                          length)

        root = entry(0)
        wanted = {n.casefold() for n in names}
        # The root's children are a tree joined by left and right siblings; an embedded object's own
        # "Workbook" stream sits lower down, inside its storage, and is never reached from here.
        pending, seen = [root.child], set()
        while pending:
            i = pending.pop()
            if i == _NOSTREAM or i in seen or i >= entries:
                continue
            seen.add(i)
            found = entry(i)
            if found.kind == 2 and found.name.casefold() in wanted:
                size = min(size, found.size)
                if found.size >= self.mini_cutoff:
                    return self._read(found.start, size)
                return self._mini_read(root.start, root.size, found.start, size)
            pending += [found.left, found.right]
        return None

    def _mini_read(self, root_start: int, root_size: int, start: int, size: int) -> bytes:
        """The first ``size`` bytes of a small stream kept in the mini stream (64-byte sectors)."""
        mini_stream = self._read(root_start, root_size)
        minifat_bytes = self._read(self.minifat_start, len(self.fat) * self.sector)
        minifat = struct.unpack(f"<{len(minifat_bytes) // 4}I", minifat_bytes)
        out = b"".join(mini_stream[s * self.mini_sector:(s + 1) * self.mini_sector]
                       for s in self._chain(start, minifat, -(-size // self.mini_sector)))
        return out[:size]


def _datemode(stream: bytes) -> bool:
    """Whether the globals substream at the start of ``stream`` holds DATEMODE = 1 (absent: the 1900 system)."""
    at = 0
    while at + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, at)
        if kind == _DATEMODE:
            return length >= 2 and struct.unpack_from("<H", stream, at + 4)[0] == 1
        if kind in (_BOUNDSHEET, _EOF):
            return False
        at += 4 + length
    return False


def xls_date1904(data: bytes) -> bool:
    """Whether the ``.xls`` in ``data`` was saved with the 1904 date system (BIFF ``DATEMODE`` = 1).

    False for anything unreadable: calamine, which reads the file itself, decides whether it can be read.
    """
    if not data.startswith(OLE_MAGIC):
        return False
    try:
        stream = _Container(data).stream_head(("Workbook", "Book"), _GLOBALS_SCAN_BYTES)
        return stream is not None and _datemode(stream)
    except (struct.error, ValueError) as exc:
        log.debug("no DATEMODE read from the .xls: %s", exc)
        return False
