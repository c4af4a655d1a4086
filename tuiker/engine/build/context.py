"""The build context: a directory (or a tar / Dockerfile read from stdin, unpacked first), its .dockerignore
rules, COPY/ADD source globbing and the classic builder's content hash of COPY sources.

.dockerignore follows moby/patternmatcher (ignorefile.ReadAll + PatternMatcher.MatchesOrParentMatches) and
the directory walk of moby/go-archive's TarWithOptions (an excluded directory is skipped unless an exception
pattern reaches inside it). The Dockerfile and .dockerignore are kept whatever the rules say, as the docker
CLI re-adds them (TrimBuildFilesFromExcludes).

The source hash is moby's remotecontext one: sha256 over a tarsum v1 header (no mtime) then the content;
`dir:` + sha256 over the sorted hashes of everything under a directory; `multi:` for several sources."""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import posixpath
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tuiker.base.errors import LayerError, TuikerError
from tuiker.image.layers import unpack_layer
from tuiker.image.tarstream import TarFormatError

DEFAULT_DOCKERFILE = "Dockerfile"
_IGNORE_FILE = ".dockerignore"
_BOM = b"\xef\xbb\xbf"
_MAX_SYMLINK_HOPS = 40


class ContextError(TuikerError):
    """A build context that cannot be used (docker's message)."""


class BadPatternError(ContextError):
    """Go's filepath.ErrBadPattern."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


# -- Go's path/filepath.Match -----------------------------------------------------------------------------

def go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match on unix: `*` and `?` never match `/`, `[...]` classes with `^` negation and
    ranges, backslash escapes. Raises BadPatternError for a malformed pattern, as Go does (Go reports it
    only when the scan reaches the bad part; this checks the whole pattern, as patternmatcher.New does)."""
    _check_go_pattern(pattern)
    return _go_match(pattern, name)


def _check_go_pattern(pattern: str) -> None:
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                raise BadPatternError()
            i += 2
        elif ch == "[":
            _, i = _class_end(pattern, i)
        else:
            i += 1


def _class_end(pattern: str, start: int) -> tuple[list[tuple[str, str]] | None, int]:
    """Parse the class starting at pattern[start] == '['; (ranges, index after ']'). Bad syntax raises."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    ranges = []
    first = True
    while True:
        if i >= len(pattern):
            raise BadPatternError()
        if pattern[i] == "]" and not first:
            return ranges, i + 1
        lo, i = _class_char(pattern, i)
        hi = lo
        if i < len(pattern) and pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
            if hi < lo:
                raise BadPatternError()
        ranges.append((lo, hi))
        first = False


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise BadPatternError()
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise BadPatternError()
    return pattern[i], i + 1


def _go_match(pattern: str, name: str) -> bool:
    """Go's Match loop: each chunk after a star is matched at the first place it fits (no backtracking)."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name      # a trailing star matches the rest unless it holds a separator
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if not star:
            return False
        for i in range(len(name)):
            if name[i] == "/":
                return False
            rest = _match_chunk(chunk, name[i + 1:])
            if rest is not None and (pattern or not rest):
                name = rest
                break
        else:
            return False
    return not name


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    stripped = pattern.lstrip("*")
    star = len(stripped) != len(pattern)
    in_range = False
    i = 0
    while i < len(stripped):
        ch = stripped[i]
        if ch == "\\":
            i += 1
        elif ch == "[":
            in_range = True
        elif ch == "]":
            in_range = False
        elif ch == "*" and not in_range:
            break
        i += 1
    i = min(i, len(stripped))
    return star, stripped[:i], stripped[i:]


def _match_chunk(chunk: str, s: str) -> str | None:
    """What is left of `s` after `chunk` (no star inside), or None when it does not match."""
    i = 0
    while i < len(chunk):
        if not s:
            return None
        ch = chunk[i]
        if ch == "[":
            negated = i + 1 < len(chunk) and chunk[i + 1] == "^"
            ranges, i = _class_end(chunk, i)
            if any(lo <= s[0] <= hi for lo, hi in ranges) == negated:
                return None
            s = s[1:]
            continue
        if ch == "?":
            if s[0] == "/":
                return None
        elif ch == "\\":
            i += 1
            if s[0] != chunk[i]:
                return None
        elif s[0] != ch:
            return None
        s = s[1:]
        i += 1
    return s


def contains_wildcards(name: str) -> bool:
    """moby's containsWildcards: an unescaped `*`, `?` or `[`."""
    i = 0
    while i < len(name):
        if name[i] == "\\":
            i += 2
            continue
        if name[i] in "*?[":
            return True
        i += 1
    return False


def go_clean(path: str) -> str:
    """Go's filepath.Clean (unix): posixpath.normpath, except that `//x` becomes `/x` and `/..` is `/`."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


# -- .dockerignore ----------------------------------------------------------------------------------------

def read_dockerignore(data: bytes) -> list[str]:
    """moby/patternmatcher ignorefile.ReadAll: the patterns of a .dockerignore file."""
    patterns = []
    for number, raw in enumerate(data.split(b"\n")):
        if number == 0:
            raw = raw.removeprefix(_BOM)
        line = raw.removesuffix(b"\r").decode("utf-8", errors="surrogateescape")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


class _Pattern:
    def __init__(self, cleaned: str, exclusion: bool) -> None:
        self.cleaned = cleaned
        self.exclusion = exclusion
        self.dirs = cleaned.split("/")
        self.kind, self.regex = _compile(cleaned)

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":
            suffix = self.cleaned[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.match(path) is not None


def _compile(pattern: str) -> tuple[str, re.Pattern | None]:
    """patternmatcher's Pattern.compile: the match type and, for "regexp", the regex."""
    out = "^"
    kind = "exact"
    i = 0
    n = len(pattern)
    index = 0
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out += ".*"
                        kind = "regexp"
                else:
                    out += "(.*/)?"
                    kind = "regexp"
                if index == 0:
                    kind = "suffix"
            else:
                out += "[^/]*"
                kind = "regexp"
        elif ch == "?":
            out += "[^/]"
            kind = "regexp"
        elif ch in ".+()|{}$":
            out += "\\" + ch
        elif ch == "\\":
            if i < n:
                out += re.escape(pattern[i])
                i += 1
                kind = "regexp"
            else:
                out += "\\\\"
        elif ch in "[]":
            out += ch
            kind = "regexp"
        else:
            out += ch
        index += 1
    if kind != "regexp":
        return kind, None
    try:
        return kind, re.compile(out + "$", re.DOTALL)
    except re.error:
        raise BadPatternError() from None


class PatternMatcher:
    """moby/patternmatcher.PatternMatcher."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            pattern = raw.strip()
            if not pattern:
                continue
            pattern = go_clean(pattern)
            exclusion = pattern.startswith("!")
            if exclusion:
                if len(pattern) == 1:
                    raise ContextError('illegal exclusion pattern: "!"')
                pattern = pattern[1:]
            _check_go_pattern(pattern)
            self.patterns.append(_Pattern(pattern, exclusion))

    @property
    def exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches_or_parent_matches(self, path: str) -> bool:
        """Whether `path` (slash-separated, relative) is excluded: the last matching pattern wins, and a
        pattern matching one of its parent directories counts."""
        matched = False
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parent != ".":
                hit = any(pattern.match("/".join(parent_dirs[:i + 1])) for i in range(len(parent_dirs)))
            if hit:
                matched = not pattern.exclusion
        return matched

    def matches_legacy(self, path: str) -> bool:
        """The deprecated Matches (only one parent level checked), which the docker CLI still uses to
        decide whether the Dockerfile and .dockerignore need re-adding."""
        path = go_clean(path)
        if path == ".":
            return False
        matched = False
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parent != "." and len(pattern.dirs) <= len(parent_dirs):
                hit = pattern.match("/".join(parent_dirs[:len(pattern.dirs)]))
            if hit:
                matched = not pattern.exclusion
        return matched


# -- the context ------------------------------------------------------------------------------------------

class BuildContext:
    """A build context directory on disk and its .dockerignore rules. Paths given to and returned by the
    methods are relative to the root, slash-separated ("." is the root itself)."""

    def __init__(self, root: Path, dockerfile: str | None = DEFAULT_DOCKERFILE,
                 dockerfile_data: bytes | None = None, excludes: list[str] | None = None) -> None:
        """`dockerfile`: the Dockerfile's path relative to the root (None when it is not in the context);
        `dockerfile_data`: its bytes when read from elsewhere (stdin, a path outside the context);
        `excludes`: the patterns that kept files out of the context, by default the root's .dockerignore
        ([] for a tar received as is: the docker CLI filters only the contexts it packs itself)."""
        self.root = Path(root)
        self.dockerfile = dockerfile
        self._dockerfile_data = dockerfile_data
        ignore = self.root / _IGNORE_FILE
        try:
            patterns = read_dockerignore(ignore.read_bytes()) if ignore.is_file() else []
        except OSError as e:
            raise ContextError(f"error checking context: '{e.strerror}'.") from None
        if excludes is None:
            excludes = patterns
        try:
            self.excludes = _keep_build_files(excludes, dockerfile)
            self.matcher = PatternMatcher(self.excludes)
            # The daemon reads them, then drops those .dockerignore names (moby remotecontext removeDockerfile):
            # sent, but never copied.
            named = PatternMatcher(patterns)
        except ContextError as e:
            raise ContextError(f"error checking context: '{e}'.") from None
        self.removed = {_normalize(f) for f in (_IGNORE_FILE, dockerfile) if f and
                        named.matches_or_parent_matches(_normalize(f))}

    def dockerfile_text(self) -> bytes:
        if self._dockerfile_data is not None:
            return self._dockerfile_data
        try:
            return (self.root / self.dockerfile).read_bytes()
        except OSError as e:
            raise ContextError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                               f"lstat {self.root / self.dockerfile}: {os.strerror(e.errno).lower()}") from None

    def _skippable(self, rel: str) -> bool:
        """go-archive's walk: an excluded directory is skipped unless an exception pattern lies inside."""
        if not self.matcher.exclusions:
            return True
        prefix = rel + "/"
        return not any(p.exclusion and (p.cleaned + "/").startswith(prefix) for p in self.matcher.patterns)

    def is_excluded(self, rel: str) -> bool:
        """Whether .dockerignore keeps `rel` out of the context (as the tar the docker CLI sends would)."""
        rel = _normalize(rel)
        if rel == ".":
            return False
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if self.matcher.matches_or_parent_matches(parent) and self._skippable(parent):
                return True
        return self.matcher.matches_or_parent_matches(rel)

    def walk(self, rel: str = ".", copying: bool = False) -> Iterator[str]:
        """Every entry under the directory `rel` that is in the context, parents before children, sorted
        by name as Go's filepath.Walk; excluded directories whose children are kept are not listed.
        A symlinked `rel` is resolved first: the paths are under resolve(rel), relative to the root.
        `copying`: what COPY sees, without the build files .dockerignore names (see `removed`)."""
        real = self.resolve(rel)
        rel = _normalize(real.relative_to(self.root).as_posix())
        try:
            names = sorted(os.listdir(real))
        except (NotADirectoryError, FileNotFoundError):
            return
        yield from self._walk(rel, real, names, copying)

    def _walk(self, rel: str, base: Path, names: list[str], copying: bool) -> Iterator[str]:
        for name in names:
            child = name if rel == "." else f"{rel}/{name}"
            is_dir = stat.S_ISDIR(os.lstat(base / name).st_mode)
            excluded = self.matcher.matches_or_parent_matches(child)
            if not excluded:
                if not (copying and child in self.removed):
                    yield child
                if is_dir:
                    yield from self._walk(child, base / name, sorted(os.listdir(base / name)), copying)
            elif is_dir and not self._skippable(child):
                kept = list(self._walk(child, base / name, sorted(os.listdir(base / name)), copying))
                if copying and kept:
                    yield child     # not sent, but unpacking the kept entries under it recreates it
                yield from kept

    def resolve(self, rel: str) -> Path:
        """The real path of `rel`, symlinks followed inside the context as in a chroot (never outside)."""
        parts = [p for p in _normalize(rel).split("/") if p not in ("", ".")]
        real: list[str] = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name == "..":
                if real:
                    real.pop()
                continue
            candidate = self.root.joinpath(*real, name)
            if candidate.is_symlink():
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise ContextError(f"too many links in {rel}")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    real = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            real.append(name)
        return self.root.joinpath(*real)

    def glob(self, pattern: str, instruction: str = "COPY") -> list[str]:
        """The context paths a COPY/ADD source names (moby's calcCopyInfo): a wildcard pattern is matched
        with Go's filepath.Match against every path of the context; excluded paths are not there."""
        source = pattern.removeprefix("/").removeprefix("./")
        source = _normalize(source) if source else "."
        if contains_wildcards(source):
            matches = [path for path in self.walk(".", copying=True) if go_match(source, path)]
            if not matches:
                raise ContextError(f"{instruction} failed: no source files were specified")
            return matches
        real = self.resolve(source)
        real_rel = _normalize(real.relative_to(self.root).as_posix())
        # the CLI leaves excluded files out of the context, then the daemon follows symlinks inside it
        if source == "." or (os.path.lexists(real) and self._copyable(source) and self._copyable(real_rel)):
            return [source]
        raise ContextError(f"{instruction} failed: file not found in build context or excluded by "
                           f".dockerignore: stat {source}: file does not exist")

    def _copyable(self, rel: str) -> bool:
        """Whether the daemon has `rel` in the context it received (see walk(copying=True))."""
        if rel in self.removed:
            return False
        if not self.is_excluded(rel):
            return True
        return (self.root / rel).is_dir() and next(iter(self.walk(rel, copying=True)), None) is not None

    def source_hash(self, sources: list[str]) -> str:
        """The classic builder's cache key part for COPY/ADD sources (context-relative paths as glob()
        returns them): `file:<sha256>`, `dir:<sha256>`, or `multi:<sha256>` over several."""
        hashes = [self._source_hash(rel) for rel in sources]
        if len(hashes) == 1:
            return hashes[0]
        return "multi:" + hashlib.sha256(",".join(hashes).encode()).hexdigest()

    def _source_hash(self, rel: str) -> str:
        real = self.resolve(rel)
        if not real.is_dir():
            return "file:" + self._entry_hash(rel)
        real_rel = _normalize(real.relative_to(self.root).as_posix())
        children = sorted(self._entry_hash(child) for child in self.walk(real_rel, copying=True))
        return "dir:" + hashlib.sha256(",".join(children).encode()).hexdigest()

    def _entry_hash(self, rel: str) -> str:
        """moby's lazySource.Hash: a symlink is followed (inside the context) and hashed as its target,
        under the target's name; a dangling one is hashed as the link."""
        real = self.resolve(rel)
        if os.path.lexists(real):
            return file_hash(real, real.relative_to(self.root).as_posix())
        return file_hash(self.root / _normalize(rel), _normalize(rel))


def _normalize(rel: str) -> str:
    cleaned = go_clean(rel).lstrip("/")
    return cleaned or "."


def _keep_build_files(excludes: list[str], dockerfile: str | None) -> list[str]:
    """docker CLI's TrimBuildFilesFromExcludes: never leave out .dockerignore or the Dockerfile."""
    if not excludes:
        return excludes
    excludes = list(excludes)
    if PatternMatcher(excludes).matches_legacy(_IGNORE_FILE):
        excludes.append("!" + _IGNORE_FILE)
    if dockerfile is not None and PatternMatcher(excludes).matches_legacy(dockerfile):
        excludes.append("!" + _normalize(dockerfile))
    return excludes


def file_hash(path: Path, name: str) -> str:
    """moby remotecontext NewFileHash: sha256 of the tarsum v1 header of `path` (stored as `name`) followed
    by its content; the header leaves mtime out, so a touched file keeps its hash."""
    st = os.lstat(path)
    mode = st.st_mode
    kind = {stat.S_IFREG: "0", stat.S_IFLNK: "2", stat.S_IFCHR: "3", stat.S_IFBLK: "4", stat.S_IFDIR: "5",
            stat.S_IFIFO: "6"}.get(stat.S_IFMT(mode), "0")
    link = os.readlink(path) if kind == "2" else ""
    size = st.st_size if kind == "0" else 0
    if kind == "5" and not name.endswith("/"):
        name += "/"
    is_dev = kind in ("3", "4")
    fields = [
        ("name", name),
        ("mode", str(stat.S_IFMT(mode) | stat.S_IMODE(mode))),
        ("uid", str(st.st_uid)),
        ("gid", str(st.st_gid)),
        ("size", str(size)),
        ("typeflag", kind),
        ("linkname", link),
        ("uname", ""),
        ("gname", ""),
        ("devmajor", str(os.major(st.st_rdev) if is_dev else 0)),
        ("devminor", str(os.minor(st.st_rdev) if is_dev else 0)),
    ]
    try:
        capability = os.getxattr(path, "security.capability", follow_symlinks=False)
        fields.append(("security.capability", capability.decode("latin-1")))
    except OSError:
        pass
    digest = hashlib.sha256()
    for key, value in fields:
        digest.update((key + value).encode("utf-8", errors="surrogateescape"))
    if kind == "0" and size:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


# -- opening a context ------------------------------------------------------------------------------------

def open_context(source: str, dockerfile: str | None, tmp: Path, stdin: BinaryIO | None = None) -> BuildContext:
    """The context of `tuiker build [-f dockerfile] source`: a directory, or "-" for stdin holding a tar
    (plain, gzip, bzip2 or xz; unpacked safely into `tmp`, an empty directory the caller owns and removes)
    or a bare Dockerfile (then the context holds only it). `dockerfile` "-" reads the Dockerfile from stdin."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    if source == "-":
        if dockerfile == "-":
            raise ContextError("invalid argument: can't use stdin for both build context and dockerfile")
        return _context_from_stdin(stdin, dockerfile, tmp)
    root = Path(source)
    if not root.is_dir():
        if not root.exists():
            raise ContextError(f'unable to prepare context: path "{source}" not found')
        raise ContextError(f"unable to prepare context: context must be a directory: {source}")
    if dockerfile == "-":
        return BuildContext(root, None, stdin.read())
    return _local_dockerfile(root, dockerfile)


def _local_dockerfile(root: Path, dockerfile: str | None) -> BuildContext:
    """docker CLI's getDockerfileRelPath: -f is relative to the current directory; without it the
    context's Dockerfile (or dockerfile)."""
    root_abs = root.resolve()
    given = Path(dockerfile).absolute() if dockerfile else root_abs / DEFAULT_DOCKERFILE
    if not dockerfile and not os.path.lexists(given) and os.path.lexists(root_abs / "dockerfile"):
        given = root_abs / "dockerfile"
    if not os.path.lexists(given):
        raise ContextError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                           f"lstat {given}: no such file or directory")
    real = given.resolve()
    try:
        rel = real.relative_to(root_abs).as_posix()
    except ValueError:   # outside the context: docker sends it along under another name
        return BuildContext(root, None, real.read_bytes())
    return BuildContext(root, rel)


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._rest.read(n)


def _decompressed(stream: BinaryIO, head: bytes) -> BinaryIO:
    """The stream uncompressed, as moby's DecompressStream: gzip, bzip2, xz, zstd or plain, by magic."""
    whole = _Prefixed(head, stream)
    if head.startswith(b"\x1f\x8b"):
        from isal import igzip
        return igzip.IGzipFile(fileobj=whole, mode="rb")
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(whole, read_across_frames=True)
    if head.startswith(b"BZh"):
        return bz2.BZ2File(whole)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(whole)
    return whole


def _is_tar_header(block: bytes) -> bool:
    if len(block) < 512:
        return False
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == computed


def _context_from_stdin(stdin: BinaryIO, dockerfile: str | None, tmp: Path) -> BuildContext:
    head = stdin.read(6)
    try:
        stream = _decompressed(stdin, head)
        first = stream.read(512)
        while len(first) < 512 and (more := stream.read(512 - len(first))):
            first += more
        if not _is_tar_header(first):
            (tmp / DEFAULT_DOCKERFILE).write_bytes(first + stream.read())
            return BuildContext(tmp, DEFAULT_DOCKERFILE)
        unpack_layer(_Prefixed(first, stream), str(tmp))
    except (LayerError, TarFormatError) as e:
        raise ContextError(f"Error processing tar file: {e}") from None
    except Exception as e:
        if isinstance(e, OSError) and e.errno:
            raise
        # each decompressor has its own error types for a corrupt or cut-off stream
        raise ContextError(f"unable to prepare context: {e}") from None
    name = _normalize(dockerfile or DEFAULT_DOCKERFILE)
    if not dockerfile and not (tmp / name).exists() and (tmp / "dockerfile").exists():
        name = "dockerfile"
    return BuildContext(tmp, name, excludes=[])
