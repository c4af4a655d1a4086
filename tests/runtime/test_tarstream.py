"""tarstream against tarfile: archives written by tarfile must read back the same through both."""

from __future__ import annotations

import io
import random
import tarfile
from decimal import Decimal

import pytest

from tuiker.image import tarstream
from tuiker.image.tarstream import Entry, TarFormatError, TarReader

MTIME = 1_600_000_000
BINARY = bytes(range(256))
NON_UTF8 = b"caf\xe9-latin1".decode("utf-8", "surrogateescape")


def info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, *, mode: int = 0o644, uid: int = 1000,
         gid: int = 1001, mtime: float = MTIME, link: str = "", dev: tuple[int, int] = (0, 0),
         pax: dict[str, str] | None = None) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = kind, size, mode, uid, gid, mtime
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    ti.pax_headers = pax or {}
    return ti


def common() -> list[tarfile.TarInfo]:
    """Entries every format can hold."""
    return [
        info("dir", tarfile.DIRTYPE, mode=0o2755),
        info("dir/empty"),
        info("dir/block", size=512, mode=0o4755),
        info("dir/big", size=(1 << 20) + 1),
        info("dir/contiguous", tarfile.CONTTYPE, size=3),
        info("dir/hard", tarfile.LNKTYPE, link="dir/block"),
        info("dir/sym", tarfile.SYMTYPE, link="/etc/passwd"),
        info("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
        info("dev/sda", tarfile.BLKTYPE, mode=0o660, dev=(8, 1048575)),
        info("fifo", tarfile.FIFOTYPE, mode=0o600),
        info("unicode-\u00e9\u4e2d\U0001f600", size=5),
        # ustar's prefix field holds the directory part of names over 100 characters.
        info("p" * 120 + "/" + "n" * 90, size=7),
    ]


def long_ones() -> list[tarfile.TarInfo]:
    """Beyond ustar: GNU writes 'L'/'K' entries and base-256 numbers, pax writes records."""
    return [
        info("/".join(["d" * 60] * 5), size=11),  # 304 characters
        info("long-link", tarfile.SYMTYPE, link="t" * 300),
        info("big-ids", size=1, uid=8**7 + 5, gid=2**32 - 2),
        info(NON_UTF8, size=2),
    ]


def pax_only() -> list[tarfile.TarInfo]:
    return [
        info("fractional", size=1, mtime=MTIME + 0.123456),
        info("xattrs", size=1, pax={
            "SCHILY.xattr.user.text": "value",
            "SCHILY.xattr.user.bin": BINARY.decode("utf-8", "surrogateescape"),
            "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
            "comment": "ignored",
        }),
        info("xattr-dir", tarfile.DIRTYPE, pax={"SCHILY.xattr.trusted.x": "y"}),
    ]


def content(ti: tarfile.TarInfo) -> bytes:
    return random.Random(ti.name.encode("utf-8", "surrogateescape")).randbytes(ti.size)


def write(infos: list[tarfile.TarInfo], fmt: int, global_pax: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=global_pax, encoding="utf-8",
                      errors="surrogateescape") as tf:
        for ti in infos:
            tf.addfile(ti, io.BytesIO(content(ti)) if ti.size else None)
    return buf.getvalue()


def read_all(stream: tarstream.Readable) -> list[tuple[Entry, bytes]]:
    reader = TarReader(stream)
    out = []
    for entry in reader:
        # Hold the views until the end: they must outlive the reader's later reads.
        views = []
        while view := reader.read_data():
            views.append(view)
        out.append((entry, views))
    return [(entry, b"".join(views)) for entry, views in out]


def read_tarfile(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8", errors="surrogateescape") as tf:
        return [(m, tf.extractfile(m).read() if m.isreg() else b"") for m in tf]


def assert_same(entry: Entry, data: bytes, member: tarfile.TarInfo, member_data: bytes) -> None:
    kind = tarfile.REGTYPE if member.isreg() else member.type
    assert (entry.name, entry.type, entry.size) == (member.name, kind, member.size)
    assert (entry.mode, entry.uid, entry.gid) == (member.mode, member.uid, member.gid)
    # tarfile gives pax times as floats; str() of such a float is what tarfile wrote.
    assert entry.mtime_ns == Decimal(str(member.mtime)) * 10**9
    assert entry.linkname == member.linkname
    if member.ischr() or member.isblk():
        assert (entry.devmajor, entry.devminor) == (member.devmajor, member.devminor)
    xattrs = {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape")
              for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr.")}
    assert entry.xattrs == xattrs
    assert data == member_data


FORMATS = {
    "ustar": (tarfile.USTAR_FORMAT, common),
    "gnu": (tarfile.GNU_FORMAT, lambda: common() + long_ones()),
    "pax": (tarfile.PAX_FORMAT, lambda: common() + long_ones() + pax_only()),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_matches_tarfile(fmt: str) -> None:
    tar_format, infos = FORMATS[fmt]
    data = write(infos(), tar_format)
    ours, theirs = read_all(io.BytesIO(data)), read_tarfile(data)
    assert len(ours) == len(theirs) == len(infos())
    for (entry, content_), (member, member_content) in zip(ours, theirs, strict=True):
        assert_same(entry, content_, member, member_content)


def test_formats_carry_what_they_should() -> None:
    """Guard the round trip itself: the special encodings really are in the archives."""
    gnu = write(long_ones(), tarfile.GNU_FORMAT)
    assert b"././@LongLink" in gnu and b"\x80\x00\x00\x00\x00\x20\x00\x05" in gnu
    ustar = write(common(), tarfile.USTAR_FORMAT)
    assert b"p" * 120 + b"\0" in ustar
    pax = {entry.name: entry for entry, _ in read_all(io.BytesIO(write(pax_only(), tarfile.PAX_FORMAT)))}
    assert pax["fractional"].mtime_ns == (MTIME * 10**6 + 123456) * 1000
    assert pax["xattrs"].xattrs["user.bin"] == BINARY


def test_non_utf8_name_keeps_its_bytes() -> None:
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        [(entry, _)] = read_all(io.BytesIO(write([info(NON_UTF8)], fmt)))
        assert entry.name.encode("utf-8", "surrogateescape") == b"caf\xe9-latin1"


def test_negative_mtime_in_base256() -> None:
    [(entry, _)] = read_all(io.BytesIO(write([info("old", mtime=-5)], tarfile.GNU_FORMAT)))
    assert entry.mtime_ns == -5 * 10**9


def test_pax_global_header_ignored() -> None:
    data = write([info("f", size=3, uid=1, gid=2)], tarfile.PAX_FORMAT,
                 global_pax={"path": "hijacked", "uid": "7", "SCHILY.xattr.user.g": "1", "comment": "x"})
    [(entry, content_)] = read_all(io.BytesIO(data))
    assert (entry.name, entry.uid, entry.gid, entry.xattrs, content_) == ("f", 1, 2, {}, content(info("f", size=3)))


def test_v7_directory_and_unknown_type() -> None:
    data = write([
        info("old-dir/", tarfile.AREGTYPE),
        info("volume", b"V", size=600),
        info("after", size=4),
    ], tarfile.USTAR_FORMAT)
    entries = read_all(io.BytesIO(data))
    assert [(e.name, e.type) for e, _ in entries] == [("old-dir", tarfile.DIRTYPE), ("volume", b"V"),
                                                      ("after", tarfile.REGTYPE)]
    assert entries[2][1] == content(info("after", size=4))


class ShortReads:
    """A non-seekable stream returning at most `most` bytes (a random amount) per read."""

    def __init__(self, data: bytes, most: int) -> None:
        self._buf = io.BytesIO(data)
        self._most = most
        self._random = random.Random(most)

    def read(self, n: int) -> bytes:
        return self._buf.read(min(n, self._random.randint(1, self._most)))


@pytest.mark.parametrize("most", [1, 700])
def test_short_reads(most: int) -> None:
    infos = common() + long_ones() + pax_only()
    if most == 1:
        infos = [ti for ti in infos if ti.size < 1 << 20]  # a MiB, a byte a call, is slow
    data = write(infos, tarfile.PAX_FORMAT)
    ours, theirs = read_all(ShortReads(data, most)), read_tarfile(data)
    assert len(ours) == len(theirs)
    for (entry, content_), (member, member_content) in zip(ours, theirs, strict=True):
        assert_same(entry, content_, member, member_content)


def test_skips_unread_content() -> None:
    infos = [info("a", size=(1 << 20) + 1), info("b", size=10), info("c", size=700)]
    reader = TarReader(io.BytesIO(write(infos, tarfile.PAX_FORMAT)))
    seen = {}
    for entry in reader:
        seen[entry.name] = bytes(reader.read_data(5)) if entry.name != "b" else b""
    assert seen == {"a": content(infos[0])[:5], "b": b"", "c": content(infos[2])[:5]}


# -- end of archive and malformed input ---------------------------------------------------------

def one_file_ustar() -> bytes:
    """Header at 0, 1000 bytes of content at 512, padding from 1512, end blocks from 1536."""
    return write([info("f", size=1000)], tarfile.USTAR_FORMAT)


def consume(data: bytes) -> list[str]:
    return [entry.name for entry, _ in read_all(io.BytesIO(data))]


@pytest.mark.parametrize("cut,where", [(100, "inside a header"), (1000, "before the end of the entry"),
                                       (1520, "padding")])
def test_truncated(cut: int, where: str) -> None:
    with pytest.raises(TarFormatError, match=where):
        consume(one_file_ustar()[:cut])


def test_truncated_inside_pax_records() -> None:
    data = write([info("x" * 200)], tarfile.PAX_FORMAT)
    with pytest.raises(TarFormatError, match="pax"):
        consume(data[:600])
    # Cut after the pax header's data: the entry it describes is missing.
    with pytest.raises(TarFormatError, match="before its entry"):
        consume(data[:1024])


def test_end_of_archive() -> None:
    data = one_file_ustar()
    assert consume(data) == ["f"]
    assert consume(data[:1536 + 512]) == ["f"]  # one zero block, then the end of the stream
    # No end blocks at all: tarfile and Go accept it too.
    assert consume(data[:1536]) == ["f"]
    assert consume(b"") == []
    # Whatever follows the end blocks (tar pads to 10 KiB records) is not read as entries.
    assert consume(data + write([info("g")], tarfile.USTAR_FORMAT)) == ["f"]
    with pytest.raises(TarFormatError, match="lone zero block"):
        consume(data[:1536] + bytes(512) + data[:1536])


def with_checksum(header: bytearray, value: int) -> bytes:
    header[148:156] = b"%06o\0 " % value
    return bytes(header)


def test_checksums() -> None:
    data = bytearray(one_file_ustar())
    data[0:1] = b"g"  # the name changes, the checksum does not
    with pytest.raises(TarFormatError, match="bad checksum"):
        consume(bytes(data))
    with pytest.raises(TarFormatError, match="bad checksum"):
        consume(b"not a tar" * 100)
    # Old tars summed signed bytes: tarfile accepts that, so do we.
    data = bytearray(write([info("\u00e9t\u00e9", size=3)], tarfile.USTAR_FORMAT))
    signed = sum(b - 256 if b > 127 else b for b in data[:148] + b" " * 8 + data[156:512])
    data[:512] = with_checksum(data[:512], signed)
    assert consume(bytes(data)) == read_tarfile_names(bytes(data)) == ["\u00e9t\u00e9"]


def read_tarfile_names(data: bytes) -> list[str]:
    return [m.name for m, _ in read_tarfile(data)]


def test_sparse_refused() -> None:
    data = write([info("old-sparse", tarfile.GNUTYPE_SPARSE)], tarfile.GNU_FORMAT)
    with pytest.raises(TarFormatError, match="sparse"):
        consume(data)
    data = write([info("pax-sparse", size=1, pax={"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                                  "GNU.sparse.realsize": "10"})], tarfile.PAX_FORMAT)
    with pytest.raises(TarFormatError, match="sparse"):
        consume(data)


@pytest.mark.parametrize("record", [b"5 path=a\n", b"99 path=a\n", b"x path=a\n", b"9 pathxa\n", b"path=a\n"])
def test_malformed_pax_record(record: bytes) -> None:
    pax = info("././@PaxHeader", b"x", size=len(record))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        tf.addfile(pax, io.BytesIO(record))
        tf.addfile(info("f"))
    with pytest.raises(TarFormatError, match="malformed pax record"):
        consume(buf.getvalue())


def test_invalid_pax_value() -> None:
    data = write([info("f", pax={"uid": "many"})], tarfile.PAX_FORMAT)
    with pytest.raises(TarFormatError, match="uid=many"):
        consume(data)
