"""unpack_layer against real tars on the real kernel (run as root: it chowns and mknods).

The breakout cases are moby go-archive's (pkg/archive/archive_unix_test.go, utils_test.go): each runs
in a tmp dir holding `dest/` and a sibling `victim/hello`, and checks that nothing outside `dest`
changed.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
import uuid
from pathlib import Path

import pytest

from tuiker.base.errors import LayerError
from tuiker.image.layers import unpack_layer

MTIME = 1_600_000_000


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", *, mode: int = 0o644, uid: int = 0,
          gid: int = 0, mtime: int = MTIME, link: str = "", dev: tuple[int, int] = (0, 0),
          pax: dict[str, str] | None = None) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, mtime
    info.linkname = link
    info.devmajor, info.devminor = dev
    info.size = len(data)
    info.pax_headers = pax or {}
    return info, data


def make_tar(entries: list[tuple[tarfile.TarInfo, bytes]], global_pax: dict[str, str] | None = None) -> bytes:
    # addfile writes names verbatim (no stripping of '/' or '..'), which the breakout cases need.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers=global_pax) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def unpack(entries: list[tuple[tarfile.TarInfo, bytes]], dest: Path) -> int:
    return unpack_layer(io.BytesIO(make_tar(entries)), str(dest))


def snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Everything under `root` except `skip`, with what a write through a link would change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if p == skip:
                continue
            st = p.lstat()
            data = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
            out[str(p)] = (st.st_mode, st.st_nlink, st.st_mtime_ns, data)
    return out


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "dest"
    d.mkdir()
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "hello").write_bytes(b"hello")
    return d


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# -- breakouts ----------------------------------------------------------------------------------

# case -> (the entry the error must name, the layer)
REFUSED = {
    "dotdot": ("../victim/dotdot", [entry("../victim/dotdot")]),
    "slash-dotdot": ("/../victim/slash-dotdot", [entry("/../victim/slash-dotdot")]),
    "hardlink-dotdot": ("dotdot", [entry("dotdot", tarfile.LNKTYPE, link="../victim/hello")]),
    "hardlink-slash-dotdot": ("slash-dotdot", [
        entry("slash-dotdot", tarfile.LNKTYPE, link="/../victim/hello"),
    ]),
    "hardlink-outside-dir-then-write": ("loophole-victim", [
        entry("loophole-victim", tarfile.LNKTYPE, link="../victim"),
        entry("loophole-victim/file", data=b"pwned"),
    ]),
    # The target's parent is a symlink out of the layer: hardlinks never go through symlinks.
    "hardlink-through-symlink": ("link", [
        entry("loophole", tarfile.SYMTYPE, link="../victim"),
        entry("link", tarfile.LNKTYPE, link="loophole/hello"),
    ]),
    "hardlink-through-absolute-symlink": ("link", [
        entry("loophole", tarfile.SYMTYPE, link="/"),
        entry("link", tarfile.LNKTYPE, link="loophole/etc/passwd"),
    ]),
    "symlink-loop": ("x/file", [
        entry("x", tarfile.SYMTYPE, link="y"),
        entry("y", tarfile.SYMTYPE, link="x"),
        entry("x/file", data=b"pwned"),
    ]),
}


@pytest.mark.parametrize("case", REFUSED)
def test_breakout_refused(dest: Path, case: str) -> None:
    refused, entries = REFUSED[case]
    before = snapshot(dest.parent, dest)
    with pytest.raises(LayerError) as err:
        unpack(entries, dest)
    assert str(err.value).startswith(refused + ": "), str(err.value)
    assert snapshot(dest.parent, dest) == before


def test_symlink_parent_resolved_inside_dest(dest: Path) -> None:
    before = snapshot(dest.parent, dest)
    unpack([
        entry("loophole", tarfile.SYMTYPE, link="../victim"),
        entry("loophole/file", data=b"pwned"),
        entry("dir/loophole", tarfile.SYMTYPE, link="../../victim"),
        entry("dir/loophole/newdir/newfile", data=b"pwned"),
    ], dest)
    assert snapshot(dest.parent, dest) == before
    assert (dest / "victim" / "file").read_bytes() == b"pwned"
    assert (dest / "victim" / "newdir" / "newfile").read_bytes() == b"pwned"
    assert os.readlink(dest / "loophole") == "../victim"


def test_symlink_chain_resolved_inside_dest(dest: Path) -> None:
    before = snapshot(dest.parent, dest)
    unpack([
        entry("a", tarfile.SYMTYPE, link="b"),
        entry("b", tarfile.SYMTYPE, link="sub/../../c"),
        entry("c", tarfile.SYMTYPE, link="/../victim"),
        entry("abs", tarfile.SYMTYPE, link=str(dest.parent / "victim")),
        entry("a/file", data=b"one"),
        entry("abs/file2", data=b"two"),
    ], dest)
    assert snapshot(dest.parent, dest) == before
    assert (dest / "victim" / "file").read_bytes() == b"one"
    # An absolute target is taken from dest, as it will be from the container's root.
    assert (dest / str(dest.parent / "victim").lstrip("/") / "file2").read_bytes() == b"two"


def test_absolute_symlink_parent_stays_in_dest(dest: Path) -> None:
    name = f"tuiker-test-{uuid.uuid4().hex}"
    unpack([
        entry("var", tarfile.DIRTYPE, mode=0o755),
        entry("var/run", tarfile.SYMTYPE, link="/run"),
        entry(f"var/run/{name}", data=b"x"),
    ], dest)
    assert not os.path.lexists(f"/run/{name}")
    assert os.readlink(dest / "var" / "run") == "/run"
    assert (dest / "run" / name).read_bytes() == b"x"


def test_entry_replaces_symlink_instead_of_writing_through(dest: Path) -> None:
    before = snapshot(dest.parent, dest)
    unpack([
        entry("loophole", tarfile.SYMTYPE, link="../victim/hello"),
        entry("loophole", data=b"pwned"),
        entry("dirlink", tarfile.SYMTYPE, link="../victim"),
        entry("dirlink", tarfile.DIRTYPE, mode=0o700),
    ], dest)
    assert snapshot(dest.parent, dest) == before
    assert (dest / "loophole").read_bytes() == b"pwned"
    assert stat.S_ISDIR((dest / "dirlink").lstat().st_mode)


def test_hardlink_to_symlink_links_the_symlink(dest: Path) -> None:
    passwd_links = os.stat("/etc/passwd").st_nlink
    unpack([
        entry("s", tarfile.SYMTYPE, link="/etc/passwd"),
        entry("h", tarfile.LNKTYPE, link="s"),
    ], dest)
    s, h = (dest / "s").lstat(), (dest / "h").lstat()
    assert stat.S_ISLNK(h.st_mode) and s.st_ino == h.st_ino
    assert os.readlink(dest / "h") == "/etc/passwd"
    assert os.stat("/etc/passwd").st_nlink == passwd_links


@pytest.mark.parametrize("target,reason", [
    ("missing", "does not exist"), ("d", "directory"), ("h", "own target"),
])
def test_hardlink_refused(dest: Path, target: str, reason: str) -> None:
    with pytest.raises(LayerError, match=f"^h: .*{reason}"):
        unpack([entry("d", tarfile.DIRTYPE), entry("h", data=b"x"),
                entry("h", tarfile.LNKTYPE, link=target)], dest)


# -- attributes ---------------------------------------------------------------------------------

def test_modes_owners_mtimes(dest: Path) -> None:
    unpack([
        entry("./", tarfile.DIRTYPE, mode=0o751, mtime=MTIME - 5),
        entry("d", tarfile.DIRTYPE, mode=0o2775, uid=1000, gid=1000, mtime=MTIME + 1),
        entry("d/suid", data=b"#!", mode=0o4755, uid=1000, gid=1000, mtime=MTIME + 2),
        entry("d/sgid", data=b"", mode=0o2711, uid=0, gid=1000),
        entry("tmp", tarfile.DIRTYPE, mode=0o1777, mtime=MTIME + 3),
        entry("d/link", tarfile.SYMTYPE, link="/nowhere", uid=1000, gid=1001, mtime=MTIME + 4),
        entry("d/sub/implicit-parent", data=b"x"),
    ], dest)
    st = (dest / "d" / "suid").lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o4755, 1000, 1000, MTIME + 2)
    st = (dest / "d" / "sgid").lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o2711, 0, 1000)
    # The directory's mtime survives the children written into it afterwards.
    st = (dest / "d").lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o2775, 1000, 1000, MTIME + 1)
    assert stat.S_IMODE((dest / "tmp").lstat().st_mode) == 0o1777
    st = (dest / "d" / "link").lstat()
    assert (os.readlink(dest / "d" / "link"), st.st_uid, st.st_gid, st.st_mtime) == ("/nowhere", 1000, 1001,
                                                                                      MTIME + 4)
    assert stat.S_IMODE((dest / "d" / "sub").lstat().st_mode) == 0o755
    st = dest.lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o751, MTIME - 5)


def test_xattrs(dest: Path) -> None:
    try:
        os.setxattr(dest, "user.probe", b"1")
        os.removexattr(dest, "user.probe")
    except OSError as e:
        if e.errno != errno.ENOTSUP:
            raise
        pytest.skip(f"{dest} is on a file system without user xattrs")
    binary = bytes(range(256)).decode("utf-8", "surrogateescape")
    unpack([
        entry("d", tarfile.DIRTYPE,
              pax={"SCHILY.xattr.user.foo": "dir", "SCHILY.xattr.trusted.overlay.opaque": "y"}),
        entry("d/f", data=b"x", pax={"SCHILY.xattr.user.foo": "bar", "SCHILY.xattr.user.bin": binary}),
        entry("d/s", tarfile.SYMTYPE, link="f", pax={"SCHILY.xattr.trusted.t": "sym"}),
    ], dest)
    assert os.getxattr(dest / "d" / "f", "user.foo") == b"bar"
    assert os.getxattr(dest / "d" / "f", "user.bin") == bytes(range(256))
    assert os.getxattr(dest / "d", "user.foo") == b"dir"
    # An image must not forge overlay metadata in its own layer.
    assert "trusted.overlay.opaque" not in os.listxattr(dest / "d")
    assert os.getxattr(dest / "d" / "s", "trusted.t", follow_symlinks=False) == b"sym"


def test_links_devices_fifo(dest: Path) -> None:
    unpack([
        entry("f", data=b"data", mode=0o640),
        entry("hard", tarfile.LNKTYPE, link="/f"),
        entry("sym", tarfile.SYMTYPE, link="/f"),
        entry("null", tarfile.CHRTYPE, dev=(1, 3), mode=0o666, uid=5, gid=6),
        entry("blk", tarfile.BLKTYPE, dev=(7, 1048575), mode=0o660),
        entry("fifo", tarfile.FIFOTYPE, mode=0o620),
    ], dest)
    assert (dest / "hard").lstat().st_ino == (dest / "f").lstat().st_ino
    assert (dest / "f").lstat().st_nlink == 2
    assert os.readlink(dest / "sym") == "/f"
    st = (dest / "null").lstat()
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o666, 5, 6)
    st = (dest / "blk").lstat()
    assert stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (7, 1048575)
    st = (dest / "fifo").lstat()
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620


def test_device_number_out_of_range(dest: Path) -> None:
    with pytest.raises(LayerError, match="^bad: device number"):
        unpack([entry("bad", tarfile.CHRTYPE, dev=(4096, 0))], dest)


def test_replacing_entries(dest: Path) -> None:
    unpack([
        entry("d", tarfile.DIRTYPE, mode=0o700),
        entry("d/keep", data=b"k"),
        entry("d", tarfile.DIRTYPE, mode=0o750, mtime=MTIME + 9),
        entry("f", data=b"old"),
        entry("f", data=b"new"),
        entry("gone", tarfile.DIRTYPE),
        entry("gone/sub/file", data=b"x"),
        entry("gone", tarfile.SYMTYPE, link="d"),
        entry("gone/late", data=b"through the symlink, inside dest"),
    ], dest)
    st = (dest / "d").lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o750, MTIME + 9)
    assert (dest / "d" / "late").read_bytes() == b"through the symlink, inside dest"
    assert (dest / "d" / "keep").read_bytes() == b"k"
    assert (dest / "f").read_bytes() == b"new"
    assert os.readlink(dest / "gone") == "d"


# -- whiteouts ----------------------------------------------------------------------------------

def is_whiteout(p: Path) -> bool:
    st = p.lstat()
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_whiteouts(dest: Path) -> None:
    unpack([
        entry(".wh.gone"),
        entry("d/.wh..wh..opq"),
        entry("d/.wh.sub"),
        entry(".wh..wh.plnk", tarfile.DIRTYPE),
        entry(".wh..wh.plnk/1.2", data=b"aufs"),
    ], dest)
    assert is_whiteout(dest / "gone")
    assert is_whiteout(dest / "d" / "sub")
    assert os.getxattr(dest / "d", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(dest)) == ["d", "gone"]


def test_same_layer_entry_beats_its_whiteout(dest: Path) -> None:
    unpack([
        entry("before", data=b"kept"),
        entry(".wh.before"),
        entry(".wh.after"),
        entry("after", data=b"kept"),
        entry("dir-before", tarfile.DIRTYPE),
        entry(".wh.dir-before"),
        entry(".wh.dir-after"),
        entry("dir-after/x", data=b"x"),
        entry(".wh.plain"),
    ], dest)
    assert (dest / "before").read_bytes() == b"kept"
    assert (dest / "after").read_bytes() == b"kept"
    # The lower directory was deleted and a new one shipped: only the new content may show.
    for d in ("dir-before", "dir-after"):
        assert os.getxattr(dest / d, "trusted.overlay.opaque") == b"y"
    assert (dest / "dir-after" / "x").read_bytes() == b"x"
    assert is_whiteout(dest / "plain")


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", "d/.wh.", "d/.wh..."])
def test_invalid_whiteout(dest: Path, name: str) -> None:
    with pytest.raises(LayerError, match=f"^{name}: invalid whiteout entry"):
        unpack([entry(name)], dest)
    assert not (dest.parent / ".wh.").exists()


# -- stream, size, errors, fds ------------------------------------------------------------------

class ReadOnly:
    """A non-seekable stream, like a decompressor's output."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(n)


def test_size_nonseekable_stream_and_pax_global_header(dest: Path) -> None:
    big = os.urandom(3 * (1 << 20) + 12345)
    data = make_tar([
        entry("big", data=big),
        entry("small", data=b"abc", pax={"SCHILY.xattr.user.local": "1"}),
        entry("empty"),
        entry("hard", tarfile.LNKTYPE, link="big"),
    ], global_pax={"comment": "ignored", "path": "hijacked", "SCHILY.xattr.user.global": "1"})
    fds = open_fds()
    size = unpack_layer(ReadOnly(data), str(dest))  # type: ignore[arg-type]
    assert open_fds() == fds
    assert size == len(big) + 3
    assert (dest / "big").read_bytes() == big
    assert sorted(os.listdir(dest)) == ["big", "empty", "hard", "small"]
    assert "user.global" not in os.listxattr(dest / "big")


def test_many_directories_do_not_leak_fds(dest: Path) -> None:
    entries = [entry(f"d{i}/sub", data=b"x") for i in range(1500)] + [entry("d0/again", data=b"y")]
    entries += [entry(f"d{i}", tarfile.DIRTYPE, mode=0o711) for i in range(0, 1500, 100)]
    fds = open_fds()
    unpack(entries, dest)
    assert open_fds() == fds
    assert len(os.listdir(dest)) == 1500
    assert (dest / "d0" / "again").read_bytes() == b"y"
    assert stat.S_IMODE((dest / "d1400").lstat().st_mode) == 0o711


def test_errors_do_not_leak_fds(dest: Path) -> None:
    fds = open_fds()
    with pytest.raises(LayerError, match="^a/b/../../x: '..'"):
        unpack([entry("a/b/c", data=b"x"), entry("a/b/../../x")], dest)
    assert open_fds() == fds


def test_truncated_and_garbage(dest: Path) -> None:
    data = make_tar([entry("f", data=b"x" * 5000)])
    with pytest.raises(LayerError, match="^f: "):
        unpack_layer(io.BytesIO(data[:2048]), str(dest))
    with pytest.raises(LayerError):
        unpack_layer(io.BytesIO(b"not a tar" * 100), str(dest))


def test_unsupported_type(dest: Path) -> None:
    with pytest.raises(LayerError, match="^vol: unsupported"):
        unpack([entry("vol", b"V")], dest)


class FailingStream(ReadOnly):
    """Breaks off after `good` bytes, as a decompressor does on corrupt input."""

    def __init__(self, data: bytes, good: int) -> None:
        super().__init__(data[:good])

    def read(self, n: int = -1) -> bytes:
        if data := super().read(n):
            return data
        raise OSError("CRC check failed")


def test_stream_errors_pass_through(dest: Path) -> None:
    # Not a LayerError: the caller checks the blob digest before blaming the layer.
    data = make_tar([entry("f", data=b"x" * 5000)])
    with pytest.raises(OSError, match="^CRC check failed$"):
        unpack_layer(FailingStream(data, 2048), str(dest))  # type: ignore[arg-type]
