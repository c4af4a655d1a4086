"""The build context. .dockerignore cases are ported from moby/patternmatcher (Apache-2.0:
patternmatcher_test.go TestMatches, TestMatch, ignorefile) and docker-py (Apache-2.0:
tests/unit/utils_build_test.py ExcludePathsTest); COPY sources and the classic builder's source hash."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest

from tuiker.engine.build.context import (
    BadPatternError,
    BuildContext,
    ContextError,
    PatternMatcher,
    file_hash,
    go_match,
    open_context,
    read_dockerignore,
)

EXACT, INEXACT, FAIL = "exact", "inexact", "fail"
# patternmatcher_test.go TestMatches: (pattern, path, result)
MATCHES = [
    ("**", "file", EXACT), ("**", "file/", EXACT), ("**/", "file", EXACT), ("**/", "file/", EXACT),
    ("**", "/", EXACT), ("**/", "/", EXACT), ("**", "dir/file", EXACT), ("**/", "dir/file", EXACT),
    ("**", "dir/file/", EXACT), ("**/", "dir/file/", EXACT), ("**/**", "dir/file", EXACT),
    ("**/**", "dir/file/", EXACT), ("dir/**", "dir/file", EXACT), ("dir/**", "dir/file/", EXACT),
    ("dir/**", "dir/dir2/file", EXACT), ("dir/**", "dir/dir2/file/", EXACT), ("**/dir", "dir", EXACT),
    ("**/dir", "dir/file", INEXACT), ("**/dir2/*", "dir/dir2/file", EXACT), ("**/dir2/*", "dir/dir2/file/", INEXACT),
    ("**/dir2/**", "dir/dir2/dir3/file", EXACT), ("**/dir2/**", "dir/dir2/dir3/file/", EXACT),
    ("**file", "file", EXACT), ("**file", "dir/file", EXACT), ("**/file", "dir/file", EXACT),
    ("**file", "dir/dir/file", EXACT), ("**/file", "dir/dir/file", EXACT), ("**/file*", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file.txt", EXACT), ("**/file*txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt", "dir/dir/file.txt", EXACT), ("**/file*.txt*", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt", "dir/dir/file.txt", EXACT), ("**/**/*.txt2", "dir/dir/file.txt", FAIL),
    ("**/*.txt", "file.txt", EXACT), ("**/**/*.txt", "file.txt", EXACT), ("a**/*.txt", "a/file.txt", EXACT),
    ("a**/*.txt", "a/dir/file.txt", EXACT), ("a**/*.txt", "a/dir/dir/file.txt", EXACT),
    ("a/*.txt", "a/dir/file.txt", FAIL), ("a/*.txt", "a/file.txt", EXACT), ("a/*.txt**", "a/file.txt", EXACT),
    ("a[b-d]e", "ae", FAIL), ("a[b-d]e", "ace", EXACT), ("a[b-d]e", "aae", FAIL), ("a[^b-d]e", "aze", EXACT),
    (".*", ".foo", EXACT), (".*", "foo", FAIL), ("abc.def", "abcdef", FAIL), ("abc.def", "abc.def", EXACT),
    ("abc.def", "abcZdef", FAIL), ("abc?def", "abcZdef", EXACT), ("abc?def", "abcdef", FAIL),
    ("**/foo/bar", "foo/bar", EXACT), ("**/foo/bar", "dir/foo/bar", EXACT), ("**/foo/bar", "dir/dir2/foo/bar", EXACT),
    ("abc/**", "abc", FAIL), ("abc/**", "abc/def", EXACT), ("abc/**", "abc/def/ghi", EXACT),
    ("**/.foo", ".foo", EXACT), ("**/.foo", "bar.foo", FAIL), ("a(b)c/def", "a(b)c/def", EXACT),
    ("a(b)c/def", "a(b)c/xyz", FAIL), ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT), ("a\\*b", "a*b", EXACT),
]
MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", FAIL),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", EXACT),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", FAIL),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", FAIL),
]


@pytest.mark.parametrize(("pattern", "path", "result"), MATCHES)
def test_matches_or_parent_matches(pattern: str, path: str, result: str) -> None:
    matcher = PatternMatcher([pattern])
    assert matcher.matches_or_parent_matches(path) == (result != FAIL)
    assert matcher.patterns[0].match(path) == (result == EXACT)   # MatchesExact: no parent directories


@pytest.mark.parametrize(("patterns", "path", "result"), MULTI)
def test_multi_pattern(patterns: list[str], path: str, result: str) -> None:
    assert PatternMatcher(patterns).matches_or_parent_matches(path) == (result != FAIL)


# patternmatcher_test.go TestMatch (Go's filepath.Match cases through the legacy Matches); None = bad pattern
GO_MATCH = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True), ("a*", "abc", True),
    ("a*", "ab/c", True), ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False), ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True), ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True), ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False), ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False), ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False), ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True),
    ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True), ("[x\\-]", "z", False),
    ("[\\-x]", "x", True), ("[\\-x]", "-", True), ("[\\-x]", "a", False), ("[]a]", "]", None), ("[-]", "-", None),
    ("[x-]", "x", None), ("[x-]", "-", None), ("[x-]", "z", None), ("[-x]", "x", None), ("[-x]", "-", None),
    ("[-x]", "a", None), ("\\", "a", None), ("[a-b-c]", "a", None), ("[", "a", None), ("[^", "a", None),
    ("[^bc", "a", None), ("a[", "a", None), ("a[", "ab", None), ("*x", "xxx", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), GO_MATCH)
def test_go_match_table(pattern: str, path: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(BadPatternError):
            PatternMatcher([pattern])
    else:
        assert PatternMatcher([pattern]).matches_legacy(path) == expected


def test_pattern_matcher_basics() -> None:
    """patternmatcher_test.go: the small named tests."""
    assert PatternMatcher(["*"]).matches_legacy("fileutils.go")
    assert PatternMatcher(["!fileutils.go", "*.go"]).matches_legacy("fileutils.go")
    assert not PatternMatcher(["docs", "!docs/README.md"]).matches_legacy("docs/README.md")
    assert not PatternMatcher(["docs/", "!docs/README.md"]).matches_legacy("docs/README.md")
    assert not PatternMatcher(["docs/*", "!docs/README.md"]).matches_legacy("docs/README.md")
    assert not PatternMatcher(["*.go", "!fileutils.go"]).matches_legacy("fileutils.go")
    assert not PatternMatcher(["*.go"]).matches_legacy(".")
    assert not PatternMatcher([]).matches_legacy("/any/path/there")
    assert len(PatternMatcher(["docs", "config", ""]).patterns) == 2
    assert PatternMatcher(["docs", "  !docs/README.md  "]).exclusions
    with pytest.raises(ContextError, match='^illegal exclusion pattern: "!"$'):
        PatternMatcher(["!"])


def test_go_match_direct() -> None:
    assert go_match("*.py", "a.py") and not go_match("*.py", "d/a.py") and go_match("d/[a-c].py", "d/b.py")


def test_read_dockerignore() -> None:
    """ignorefile.ReadAll: BOM, `#` comments in column 1 only, TrimSpace, `!` exceptions, Clean, leading `/`."""
    data = (b"\xef\xbb\xbf# comment\n  node_modules  \n #not-a-comment\n\n! excepted-with-spaces \n/abs/x\n"
            b"a/../b//c/\r\n!/root\n./dot\n.\n")
    assert read_dockerignore(data) == ["node_modules", "#not-a-comment", "!excepted-with-spaces", "abs/x", "b/c",
                                       "!root", "dot", "."]


# docker-py ExcludePathsTest
DIRS = ["foo", "foo/bar", "bar", "target", "target/subdir", "subdir", "subdir/target", "subdir/target/subdir",
        "subdir/subdir2", "subdir/subdir2/target", "subdir/subdir2/target/subdir"]
FILES = ["Dockerfile", "Dockerfile.alt", ".dockerignore", "a.py", "a.go", "b.py", "cde.py", "foo/a.py", "foo/b.py",
         "foo/bar/a.py", "bar/a.py", "foo/Dockerfile3", "target/file.txt", "target/subdir/file.txt",
         "subdir/file.txt", "subdir/target/file.txt", "subdir/target/subdir/file.txt", "subdir/subdir2/file.txt",
         "subdir/subdir2/target/file.txt", "subdir/subdir2/target/subdir/file.txt"]
ALL = set(DIRS + FILES)
SUBDIR_ALL = {p for p in ALL if p.startswith("subdir/")}
EXCLUDE_PATHS = [
    ([""], None, ALL),
    (["*"], None, {"Dockerfile", ".dockerignore"}),
    (["Dockerfile", ".dockerignore"], None, ALL),
    (["*"], "Dockerfile.alt", {"Dockerfile.alt", ".dockerignore"}),
    (["*"], "foo/Dockerfile3", {"foo/Dockerfile3", ".dockerignore"}),
    (["*"], "./foo/Dockerfile3", {"foo/Dockerfile3", ".dockerignore"}),
    (["a.py"], None, ALL - {"a.py"}),
    (["./a.py"], None, ALL - {"a.py"}),
    (["a.py/"], None, ALL - {"a.py"}),
    (["*.py"], None, ALL - {"a.py", "b.py", "cde.py"}),
    (["*.py", "!b.py"], None, ALL - {"a.py", "cde.py"}),
    (["*.*", "!*.go"], None, ALL - {"a.py", "b.py", "cde.py", "Dockerfile.alt"}),
    (["a.*"], None, ALL - {"a.py", "a.go"}),
    (["?.py"], None, ALL - {"a.py", "b.py"}),
    (["foo/a.py"], None, ALL - {"foo/a.py"}),
    (["/foo/a.py"], None, ALL - {"foo/a.py"}),
    (["foo/whoops/../a.py"], None, ALL - {"foo/a.py"}),
    (["foo/*.py"], None, ALL - {"foo/a.py", "foo/b.py"}),
    (["*/a.py"], None, ALL - {"foo/a.py", "bar/a.py"}),
    (["*/*.py"], None, ALL - {"foo/a.py", "foo/b.py", "bar/a.py"}),
    (["foo"], None, ALL - {"foo", "foo/a.py", "foo/b.py", "foo/bar", "foo/bar/a.py", "foo/Dockerfile3"}),
    (["foo", "!foo/bar/a.py"], None, ALL - {"foo/a.py", "foo/b.py", "foo", "foo/bar", "foo/Dockerfile3"}),
    (["foo", "!foo/bar"], None, ALL - {"foo/a.py", "foo/b.py", "foo", "foo/Dockerfile3"}),
    (["foo", "!foo/*.py"], None, ALL - {"foo/bar", "foo/bar/a.py", "foo", "foo/Dockerfile3"}),
    (["foo/bar"], None, ALL - {"foo/bar", "foo/bar/a.py"}),
    (["**/a.py"], None, ALL - {"a.py", "foo/a.py", "foo/bar/a.py", "bar/a.py"}),
    (["foo/**/bar"], None, ALL - {"foo/bar", "foo/bar/a.py"}),
    (["**/target/*/*"], None, ALL - {"target/subdir/file.txt", "subdir/target/subdir/file.txt",
                                     "subdir/subdir2/target/subdir/file.txt"}),
    (["subdir/**"], None, ALL - SUBDIR_ALL),
    (["**", "!bar", "!foo/bar"], None, {"foo/bar", "foo/bar/a.py", "bar", "bar/a.py", "Dockerfile",
                                        ".dockerignore"}),
]


def make_tree(root: Path, dirs: list[str], files: list[str]) -> Path:
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text(f)
    return root


def included(root: Path, patterns: list[str], dockerfile: str | None = "Dockerfile") -> set[str]:
    ctx = BuildContext(root, dockerfile, excludes=read_dockerignore("\n".join(patterns).encode()))
    paths = set(ctx.walk("."))
    assert {p for p in ALL | paths if (root / p).exists() and not ctx.is_excluded(p)} == paths
    return paths


@pytest.mark.parametrize(("patterns", "dockerfile", "expected"), EXCLUDE_PATHS)
def test_exclude_paths(tmp_path: Path, patterns: list[str], dockerfile: str | None, expected: set[str]) -> None:
    make_tree(tmp_path, DIRS, FILES)
    assert included(tmp_path, patterns, dockerfile or "Dockerfile") == expected


def test_exclude_dockerfile_child(tmp_path: Path) -> None:
    make_tree(tmp_path, DIRS, FILES)
    paths = included(tmp_path, ["foo/"], "foo/Dockerfile3")
    assert "foo/Dockerfile3" in paths and "foo/a.py" not in paths


def test_exclude_include_absolute_path(tmp_path: Path) -> None:
    make_tree(tmp_path, [], ["a.py", "b.py"])
    assert included(tmp_path, ["/*", "!/*.py"]) == {"a.py", "b.py"}


def test_include_wildcard(tmp_path: Path) -> None:
    """'This may be surprising but it matches the CLI's behavior': a skipped directory hides `!*/b.py`."""
    make_tree(tmp_path, ["a"], ["a/b.py"])
    assert included(tmp_path, ["*", "!*/b.py"]) == set()


def test_last_line_precedence(tmp_path: Path) -> None:
    make_tree(tmp_path, [], ["garbage.md", "trash.md", "README.md", "README-bis.md", "README-secret.md"])
    assert included(tmp_path, ["*.md", "!README*.md", "README-secret.md"]) == {"README.md", "README-bis.md"}


def test_parent_directory(tmp_path: Path) -> None:
    """`/../b.py` is cleaned to `b.py` (Go's Clean); `../a.py` stays outside the context and matches nothing
    (docker-py strips it to `a.py`; the docker CLI does not)."""
    make_tree(tmp_path, [], ["a.py", "b.py", "c.py"])
    assert included(tmp_path, ["../a.py", "/../b.py"]) == {"a.py", "c.py"}


def test_dot_pattern_is_ignored(tmp_path: Path) -> None:
    make_tree(tmp_path, ["d"], ["x", "d/y"])
    assert included(tmp_path, ["."]) == {"x", "d", "d/y"}


def test_dockerignore_file_is_read(tmp_path: Path) -> None:
    make_tree(tmp_path, ["node_modules/x"], ["Dockerfile", "app.py", "README.md", "node_modules/x/y.js"])
    (tmp_path / ".dockerignore").write_text("# deps\nnode_modules\n*.md\n.dockerignore\nDockerfile\n")
    ctx = open_context(str(tmp_path), None, tmp_path / "unused")
    assert ctx.dockerfile_text() == b"Dockerfile"
    assert list(ctx.walk(".")) == [".dockerignore", "Dockerfile", "app.py"]
    assert ctx.is_excluded("node_modules/x/y.js") and ctx.is_excluded("README.md") and not ctx.is_excluded("app.py")


def test_bad_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("!\n")
    with pytest.raises(ContextError, match="^error checking context: 'illegal exclusion pattern: \"!\"'.$"):
        BuildContext(tmp_path)
    (tmp_path / ".dockerignore").write_text("a[\n")
    with pytest.raises(ContextError, match="^error checking context: 'syntax error in pattern'.$"):
        BuildContext(tmp_path)


# -- COPY sources

@pytest.fixture
def context(tmp_path: Path) -> BuildContext:
    make_tree(tmp_path, ["src/sub", "empty", "skip"], ["Dockerfile", "a.txt", "b.txt", "c.md", "src/x.py",
                                                       "src/sub/y.py", "skip/z", "[x].txt"])
    (tmp_path / "link").symlink_to("/src")   # absolute: resolved inside the context
    (tmp_path / ".dockerignore").write_text("skip\n*.md\n")
    return BuildContext(tmp_path)


def test_glob(context: BuildContext) -> None:
    assert context.glob("*.txt") == ["[x].txt", "a.txt", "b.txt"]
    assert context.glob("/src/*.py") == ["src/x.py"]
    assert context.glob("src/*/*.py") == ["src/sub/y.py"]
    assert context.glob("[[]x].txt") == ["[x].txt"]
    assert context.glob("?.txt") == ["a.txt", "b.txt"]
    assert context.glob("./src") == ["src"]
    assert context.glob(".") == ["."]
    assert context.glob("src/../a.txt") == ["a.txt"]
    assert context.resolve("link/x.py") == context.root / "src" / "x.py"


@pytest.mark.parametrize(("source", "message"), [
    ("*.none", "COPY failed: no source files were specified"),
    ("missing", "COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file "
                "does not exist"),
    ("c.md", "COPY failed: file not found in build context or excluded by .dockerignore: stat c.md: file does not "
             "exist"),
    ("skip/z", "COPY failed: file not found in build context or excluded by .dockerignore: stat skip/z: file does "
               "not exist"),
    ("*.md", "COPY failed: no source files were specified"),
])
def test_glob_errors(context: BuildContext, source: str, message: str) -> None:
    with pytest.raises(ContextError) as info:
        context.glob(source)
    assert str(info.value) == message


# -- the classic builder's source hash

def test_file_hash_is_tarsum_v1_header_plus_content(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    os.chmod(path, 0o640)
    st = os.stat(path)
    header = (f"namef/gmode{0o100640}uid{st.st_uid}gid{st.st_gid}size5typeflag0linknameunamegname"
              "devmajor0devminor0").replace("f/g", "f")
    assert file_hash(path, "f") == hashlib.sha256(header.encode() + b"hello").hexdigest()


def test_source_hash_ignores_mtime_but_not_content_or_mode(context: BuildContext) -> None:
    root = context.root
    before = context.source_hash(["a.txt"])
    assert before.startswith("file:")
    os.utime(root / "a.txt", (1, 1))
    assert context.source_hash(["a.txt"]) == before
    os.chmod(root / "a.txt", 0o600)
    assert context.source_hash(["a.txt"]) != before
    directory = context.source_hash(["src"])
    assert directory.startswith("dir:")
    os.utime(root / "src" / "sub" / "y.py", (1, 1))
    assert context.source_hash(["src"]) == directory
    (root / "src" / "sub" / "y.py").write_text("changed")
    assert context.source_hash(["src"]) != directory
    multi = context.source_hash(["a.txt", "b.txt"])
    assert multi == "multi:" + hashlib.sha256(",".join([context.source_hash(["a.txt"]),
                                                        context.source_hash(["b.txt"])]).encode()).hexdigest()


def test_dir_hash_leaves_excluded_files_out(context: BuildContext) -> None:
    root = context.root
    before = context.source_hash(["."])
    (root / "skip" / "z").write_text("changed, still excluded")
    (root / "c.md").write_text("changed, still excluded")
    assert context.source_hash(["."]) == before
    (root / "src" / "notes.md").write_text("*.md only matches at the top")
    assert context.source_hash(["."]) != before


# -- opening a context

def tar_bytes(files: dict[str, bytes], compress: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    if compress == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(raw)
    return {"": lambda b: b, "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[compress](raw)


@pytest.mark.parametrize("compress", ["", "gzip", "bzip2", "xz", "zstd"])
def test_tar_on_stdin(tmp_path: Path, compress: str) -> None:
    data = tar_bytes({"Dockerfile": b"FROM scratch\n", "dir/f": b"x", ".dockerignore": b"dir\nDockerfile\n"},
                     compress)
    ctx = open_context("-", None, tmp_path, stdin=io.BytesIO(data))
    assert ctx.root == tmp_path and ctx.dockerfile_text() == b"FROM scratch\n"
    # a tar is taken as sent: .dockerignore only removes the build files after they are read
    assert (tmp_path / "dir" / "f").read_bytes() == b"x" and not ctx.is_excluded("dir/f")
    assert ctx.glob("*") == [".dockerignore", "dir"]


def test_tar_on_stdin_with_other_dockerfile(tmp_path: Path) -> None:
    data = tar_bytes({"build/Dockerfile.dev": b"FROM a\n"})
    assert open_context("-", "build/Dockerfile.dev", tmp_path, stdin=io.BytesIO(data)).dockerfile_text() == b"FROM a\n"


def test_tar_escaping_the_context_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "ctx"
    dest.mkdir()
    data = tar_bytes({"../evil": b"x"})
    with pytest.raises(ContextError, match="^Error processing tar file: "):
        open_context("-", None, dest, stdin=io.BytesIO(data))
    assert not (tmp_path / "evil").exists()


def test_dockerfile_on_stdin(tmp_path: Path) -> None:
    ctx = open_context("-", None, tmp_path, stdin=io.BytesIO(b"FROM busybox\nRUN true\n"))
    assert ctx.dockerfile_text() == b"FROM busybox\nRUN true\n"
    assert list(ctx.walk(".")) == ["Dockerfile"]


def test_dockerfile_from_stdin_with_directory_context(tmp_path: Path) -> None:
    make_tree(tmp_path, [], ["Dockerfile", "a"])
    ctx = open_context(str(tmp_path), "-", tmp_path / "unused", stdin=io.BytesIO(b"FROM x\n"))
    assert ctx.dockerfile_text() == b"FROM x\n"


def test_dockerfile_flag_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path, ["ctx/sub"], ["ctx/sub/Dockerfile.x", "other/Dockerfile", "ctx/a"])
    monkeypatch.chdir(tmp_path)
    ctx = open_context("ctx", "ctx/sub/Dockerfile.x", tmp_path / "unused")
    assert ctx.dockerfile == "sub/Dockerfile.x" and ctx.dockerfile_text() == b"ctx/sub/Dockerfile.x"
    outside = open_context("ctx", "other/Dockerfile", tmp_path / "unused")
    assert outside.dockerfile is None and outside.dockerfile_text() == b"other/Dockerfile"
    with pytest.raises(ContextError, match="^unable to prepare context: unable to evaluate symlinks in Dockerfile "
                                           "path: lstat .*/ctx/Dockerfile: no such file or directory$"):
        open_context("ctx", None, tmp_path / "unused")
    with pytest.raises(ContextError, match='^unable to prepare context: path "nope" not found$'):
        open_context("nope", None, tmp_path / "unused")
    with pytest.raises(ContextError, match="can't use stdin for both build context and dockerfile"):
        open_context("-", "-", tmp_path / "unused", stdin=io.BytesIO(b""))


def test_symlinks_hash_as_their_target(context: BuildContext) -> None:
    """moby's lazySource.Hash follows a symlink in scope: `link` -> /src hashes like `src`."""
    assert context.source_hash(["link"]) == context.source_hash(["src"])
    (context.root / "dangling").symlink_to("nowhere")
    assert context.source_hash(["dangling"]).startswith("file:")


def test_symlink_into_an_excluded_directory(context: BuildContext) -> None:
    """The CLI leaves `skip/` out of the context, so a kept symlink to it points at nothing."""
    (context.root / "to-skip").symlink_to("skip/z")
    with pytest.raises(ContextError, match="stat to-skip: file does not exist"):
        context.glob("to-skip")
    assert list(context.walk("link")) == ["src/sub", "src/sub/y.py", "src/x.py"]


def test_build_files_named_by_dockerignore_are_sent_but_not_copied(tmp_path: Path) -> None:
    """moby's removeDockerfile: the daemon reads the Dockerfile and .dockerignore, then removes the ones
    .dockerignore names, so COPY never sees them (docs: "ADD and COPY instructions do not copy them")."""
    make_tree(tmp_path, ["d"], ["Dockerfile", "a", "d/b"])
    (tmp_path / ".dockerignore").write_text("Dockerfile\n.dockerignore\n")
    ctx = BuildContext(tmp_path)
    assert ctx.dockerfile_text() == b"Dockerfile" and not ctx.is_excluded("Dockerfile")
    assert ctx.removed == {".dockerignore", "Dockerfile"}
    assert list(ctx.walk(".", copying=True)) == ["a", "d", "d/b"]
    assert ctx.glob("*") == ["a", "d"]
    with pytest.raises(ContextError, match="stat Dockerfile: file does not exist"):
        ctx.glob("Dockerfile")
    (tmp_path / ".dockerignore").write_text("d\n")
    assert BuildContext(tmp_path).glob("*") == [".dockerignore", "Dockerfile", "a"]


@pytest.mark.parametrize(("pattern", "path", "expected"), GO_MATCH)
def test_go_filepath_match(pattern: str, path: str, expected: bool | None) -> None:
    """The same rows are Go's own filepath.Match tests (match_test.go), where `a*` does not match `ab/c`
    (patternmatcher's Matches finds it through the parent directory)."""
    if (pattern, path) == ("a*", "ab/c"):
        expected = False
    if expected is None:
        with pytest.raises(BadPatternError):
            go_match(pattern, path)
    else:
        assert go_match(pattern, path) == expected


def test_whitelist_dockerignore(tmp_path: Path) -> None:
    """`**` then `!app/main.py`: `app` is not sent, but the daemon recreates it around the kept file, so
    `COPY app /app` works in docker; a directory with nothing kept stays absent."""
    make_tree(tmp_path, ["app/lib", "other"], ["Dockerfile", "app/main.py", "app/lib/x.py", "other/y"])
    (tmp_path / ".dockerignore").write_text("**\n!app/main.py\n")
    ctx = BuildContext(tmp_path)
    assert list(ctx.walk(".")) == [".dockerignore", "Dockerfile", "app/main.py"]
    assert list(ctx.walk(".", copying=True)) == ["app", "app/main.py"]   # `**` names the build files too
    assert ctx.glob("app") == ["app"] and ctx.glob("a*") == ["app"]
    assert list(ctx.walk("app", copying=True)) == ["app/main.py"]
    with pytest.raises(ContextError, match="stat other: file does not exist"):
        ctx.glob("other")


def test_corrupt_compressed_stdin(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="^unable to prepare context: "):
        open_context("-", None, tmp_path, stdin=io.BytesIO(b"\x1f\x8b\x08\x00garbage" * 10))


def test_docker_py_build_with_dockerignore(tmp_path: Path) -> None:
    """docker-py's integration test_build_with_dockerignore: spaces trimmed, `! excepted`, `#*` a comment, so
    `#file.txt` is kept; what `ADD . /test` sees."""
    make_tree(tmp_path, ["ignored/subdir"], ["Dockerfile", "ignored/subdir/file", "ignored/subdir/excepted-file",
                                             "ignored/subdir/excepted-with-spaces", "ignored-with-spaces",
                                             "#file.txt"])
    (tmp_path / ".dockerignore").write_text("\n".join([
        "ignored", "Dockerfile", ".dockerignore", " ignored-with-spaces ", "! ignored/subdir/excepted-with-spaces",
        "!ignored/subdir/excepted-file", "", "#*"]) + "\n")
    ctx = BuildContext(tmp_path)
    assert set(ctx.walk(".", copying=True)) == {"#file.txt", "ignored", "ignored/subdir",
                                                 "ignored/subdir/excepted-file", "ignored/subdir/excepted-with-spaces"}
