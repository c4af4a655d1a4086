"""A small, fast, streaming tar reader: just what unpacking an image layer needs.

tarfile spends most of a pull's Python time parsing headers and copying its stream buffer; this
reader reads the stream in big chunks, parses each 512-byte header with a few slices and hands file
content out as memoryviews of the chunk it arrived in, without copying.

A tar is a sequence of 512-byte header blocks, each followed by its content padded to 512 bytes, and
ends with two zero blocks. Understood: v7, ustar (`prefix` + `name`), old GNU, GNU base-256 numbers,
GNU long names and link targets ('L', 'K'), pax extended headers ('x'). Pax global headers ('g') are
skipped, as Docker does. Sparse files (GNU 'S' or pax GNU.sparse.*) are refused: images have none.
Where tar implementations disagree, this follows Go's archive/tar, which wrote and reads most images.

Names are utf-8 decoded with surrogateescape, as tarfile does, so a non-UTF-8 name reaches the os
functions as its original bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from zlib import adler32

BLOCK = 512
_CHUNK = 1 << 20
_ZERO_BLOCK = bytes(BLOCK)
# Go's limit on pax and GNU long-name data: these are held in memory, so a layer must not grow them.
_MAX_META = 1 << 20

REGTYPE = b"0"
LNKTYPE = b"1"
SYMTYPE = b"2"
CHRTYPE = b"3"
BLKTYPE = b"4"
DIRTYPE = b"5"
FIFOTYPE = b"6"
_AREGTYPE = b"\0"  # v7 regular file
_CONTTYPE = b"7"  # "contiguous file": a regular file everywhere that matters
_PAX = b"x"
_PAX_GLOBAL = b"g"
_GNU_LONGNAME = b"L"
_GNU_LONGLINK = b"K"
_GNU_SPARSE = b"S"
# Types whose header's size field does not announce content (tarfile and Go agree).
_HEADER_ONLY = frozenset((LNKTYPE, SYMTYPE, CHRTYPE, BLKTYPE, DIRTYPE, FIFOTYPE))
_USTAR_MAGIC = b"ustar\x0000"  # POSIX ustar and pax; old GNU writes "ustar  \0" and has no prefix
_XATTR = b"SCHILY.xattr."
_SPARSE = b"GNU.sparse."


class TarFormatError(ValueError):
    """The stream is not a well-formed tar, or ends early."""


class Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


@dataclass(slots=True)
class Entry:
    name: str
    type: bytes  # one of the *TYPE constants, or an unknown type byte passed through as is
    size: int  # bytes of content (meaningful for regular files)
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    linkname: str
    devmajor: int
    devminor: int
    xattrs: dict[str, bytes]  # from pax SCHILY.xattr.* records; values are binary


class TarReader:
    """Iterate over the entries of the tar read from `stream`; while on an entry, `read_data` gives
    its content. Unread content is skipped when the iteration moves on."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._buf = b""  # the chunk last read from the stream, consumed from _pos on
        self._pos = 0
        self._left = 0  # content of the current entry not yet handed out
        self._pad = 0  # padding after that content

    def __iter__(self) -> Iterator[Entry]:
        while (entry := self._next()) is not None:
            yield entry

    def read_data(self, n: int = _CHUNK) -> memoryview:
        """Up to `n` bytes of the current entry's content; empty once all of it was read.

        The view stays valid after later reads: it points into an immutable chunk.
        """
        n = min(n, self._left)
        if not n:
            return memoryview(b"")
        if self._pos == len(self._buf) and not self._fill():
            raise TarFormatError(f"tar ends {self._left} bytes before the end of the entry's content")
        pos = self._pos
        n = min(n, len(self._buf) - pos)
        self._pos = pos + n
        self._left -= n
        return memoryview(self._buf)[pos:pos + n]

    # -- stream buffer ------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Replace the (fully consumed) buffer with the next chunk; False at the end of the stream."""
        chunk = self._stream.read(_CHUNK)
        self._buf, self._pos = chunk, 0
        return bool(chunk)

    def _take(self, n: int, what: str) -> bytes:
        """Exactly `n` bytes, or TarFormatError naming `what` was cut short."""
        pos, end = self._pos, self._pos + n
        if end <= len(self._buf):
            self._pos = end
            return self._buf[pos:end]
        # Straddles chunks: copy just the bytes asked for, and keep the last chunk as the buffer.
        out = bytearray(self._buf[pos:])
        while len(out) < n:
            need = n - len(out)
            if not self._fill():
                raise TarFormatError(f"tar ends inside {what}")
            out += self._buf[:need]
            self._pos = min(need, len(self._buf))
        return bytes(out)

    def _skip(self, n: int) -> None:
        while n:
            avail = len(self._buf) - self._pos
            if n <= avail:
                self._pos += n
                return
            n -= avail
            if not self._fill():
                raise TarFormatError("tar ends inside an entry's content or padding")

    # -- headers ------------------------------------------------------------------------------

    def _header(self) -> bytes | None:
        """The next header block, or None where the stream ends cleanly between blocks."""
        if self._pos == len(self._buf) and not self._fill():
            return None
        return self._take(BLOCK, "a header")

    def _next(self) -> Entry | None:
        self._skip(self._left + self._pad)
        self._left = self._pad = 0
        pax: dict[bytes, bytes] = {}
        longname = longlink = None
        while True:
            block = self._header()
            # A stream ending without the zero blocks is accepted, as by tarfile and Go.
            if block is None or block == _ZERO_BLOCK:
                if pax or longname is not None or longlink is not None:
                    raise TarFormatError("tar ends after a pax or GNU long-name header, before its entry")
                # A zero block must be followed by another one (or the end): Go's rule.
                if block is not None and self._header() not in (None, _ZERO_BLOCK):
                    raise TarFormatError("a lone zero block inside the tar")
                return None
            _check_sum(block)
            kind = block[156:157]
            try:
                size = _number(block[124:136])
            except ValueError:
                raise TarFormatError("invalid size in a tar header") from None
            if size < 0:
                raise TarFormatError("negative size in a tar header")
            pad = -size % BLOCK
            if kind in (_PAX, _GNU_LONGNAME, _GNU_LONGLINK):
                if size > _MAX_META:
                    raise TarFormatError(f"tar metadata entry of {size} bytes (at most {_MAX_META})")
                data = self._take(size, "a pax or GNU long-name header")
                self._skip(pad)
                if kind == _PAX:
                    pax = _parse_pax(data)
                elif kind == _GNU_LONGNAME:
                    longname = _cstring(data)
                else:
                    longlink = _cstring(data)
                continue
            if kind == _PAX_GLOBAL:
                self._skip(size + pad)
                continue
            if kind == _GNU_SPARSE:
                raise TarFormatError("GNU sparse files are not supported")
            entry = _entry(block, kind, size, pax, longname, longlink)
            if entry.type not in _HEADER_ONLY:
                self._left = entry.size
                self._pad = -entry.size % BLOCK
            return entry


def _cstring(field: bytes) -> bytes:
    end = field.find(0)
    return field if end < 0 else field[:end]


def _number(field: bytes) -> int:
    """A numeric header field: octal text, or GNU base-256 for values octal cannot hold."""
    lead = field[0]
    if lead == 0x80:
        return int.from_bytes(field[1:], "big")
    if lead == 0xFF:  # negative, two's complement
        return int.from_bytes(field, "big", signed=True)
    end = field.find(0)  # _cstring inlined: this runs several times per entry
    if end >= 0:
        field = field[:end]
    try:
        return int(field, 8)
    except ValueError:
        if not field.strip():  # an empty field means 0
            return 0
        raise


def _check_sum(block: bytes) -> None:
    """The checksum sums the header's bytes with the checksum field taken as spaces. Some old tars
    summed signed bytes, which tarfile and Go accept too."""
    try:
        stored = _number(block[148:156])
    except ValueError:
        stored = -1
    # sum() over 512 bytes is slow. adler32 keeps 1 + the byte sum modulo 65521, which is exact for
    # 256 bytes (1 + 256 * 255 < 65521): two of them sum the block 4x faster.
    unsigned = (adler32(block[:256]) & 0xFFFF) + (adler32(block[256:]) & 0xFFFF) - 2
    unsigned += 8 * 0x20 - sum(block[148:156])
    if stored != unsigned and stored != sum(struct.unpack_from("148b8x356b", block)) + 8 * 0x20:
        raise TarFormatError("bad checksum in a tar header (not a tar, or corrupt)")


def _parse_pax(data: bytes) -> dict[bytes, bytes]:
    """Records "<length> <key>=<value>\\n", the length counting the whole record."""
    records = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        digits = data[pos:space]
        if space < 0 or not digits.isdigit():
            raise TarFormatError("malformed pax record")
        end = pos + int(digits)
        if end > len(data) or end <= space or data[end - 1] != 0x0A:
            raise TarFormatError("malformed pax record")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise TarFormatError("malformed pax record")
        if key.startswith(_SPARSE):
            raise TarFormatError("pax (GNU.sparse) sparse files are not supported")
        records[key] = value
        pos = end
    return records


def _pax_time_ns(value: bytes) -> int:
    """Seconds with an optional decimal fraction ("1600000000.25", "-1.5"), exactly, in ns."""
    whole, _, frac = value.partition(b".")
    if frac and not frac.isdigit():
        raise ValueError(f"invalid pax time {value!r}")
    ns = int(frac[:9].ljust(9, b"0"))
    return int(whole) * 1_000_000_000 + (-ns if whole.startswith(b"-") else ns)


def _decode(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def _entry(block: bytes, kind: bytes, size: int, pax: dict[bytes, bytes], longname: bytes | None,
           longlink: bytes | None) -> Entry:
    if longname is not None:
        name = longname
    else:
        name = _cstring(block[0:100])
        if block[345] and block[257:265] == _USTAR_MAGIC:
            name = _cstring(block[345:500]) + b"/" + name
    linkname = _cstring(block[157:257]) if longlink is None else longlink
    try:
        mode = _number(block[100:108])
        uid = _number(block[108:116])
        gid = _number(block[116:124])
        mtime_ns = _number(block[136:148]) * 1_000_000_000
        devmajor = devminor = 0
        if kind == CHRTYPE or kind == BLKTYPE:
            devmajor = _number(block[329:337])
            devminor = _number(block[337:345])
    except ValueError:
        raise TarFormatError("invalid number in a tar header") from None
    xattrs = {}
    if pax:
        for key, value in pax.items():
            try:
                if key == b"path":
                    name = value
                elif key == b"linkpath":
                    linkname = value
                elif key == b"size":
                    size = int(value)
                elif key == b"uid":
                    uid = int(value)
                elif key == b"gid":
                    gid = int(value)
                elif key == b"mtime":
                    mtime_ns = _pax_time_ns(value)
                elif key.startswith(_XATTR):
                    xattrs[_decode(key[len(_XATTR):])] = value
            except ValueError:
                raise TarFormatError(f"invalid pax record {_decode(key)}={_decode(value)}") from None
        if size < 0:
            raise TarFormatError("negative size in a pax header")
    if kind == _AREGTYPE:
        kind = DIRTYPE if name.endswith(b"/") else REGTYPE  # v7 marks directories with a slash
    elif kind == _CONTTYPE:
        kind = REGTYPE
    if kind == DIRTYPE:
        name = name.rstrip(b"/")
    return Entry(_decode(name), kind, size, mode, uid, gid, mtime_ns, _decode(linkname), devmajor, devminor,
                 xattrs)
