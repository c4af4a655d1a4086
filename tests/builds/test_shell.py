"""The Dockerfile shell lexer against buildkit's/moby's own tables (Apache-2.0): moby/buildkit
frontend/dockerfile/shell/lex_test.go (TestProcessWithMatches, TestShellParserMandatoryEnvVars) and moby's
envVarTest (tests/builds/data/envVarTest, A and U rows)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuiker.base.goquote import go_quote
from tuiker.engine.build.shell import Lex, ShellError, expand_word, expand_words

# lex_test.go TestProcessWithMatches: (input, env, expected or None for an error, matched names)
PROCESS_WITH_MATCHES = [
    ("x", {"DUMMY": "dummy"}, "x", set()),
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", set()),
    ("x ${FOO}", {"FOO": "y"}, "x y", {"FOO"}),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc", {"FOO", "BAR"}),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc", {"FOO", "BAR"}),
    ("${FOO:-}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}),
    ("${FOO:-}", {}, "", set()),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb ", {"FOO", "BAR"}),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  ", {"FOO", "BAR"}),
    ("${FOO?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}),
    ("${BAR?bbb}", {"FOO": "xxx", "BAR": ""}, "", {"BAR"}),
    ("${BAZ?ccc}", {"FOO": "xxx", "BAR": ""}, None, set()),
    ("${FOO:?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}),
    ("${BAR:?bbb}", {"FOO": "xxx", "BAR": ""}, None, set()),
    ("${BAZ:?ccc}", {"FOO": "xxx", "BAR": ""}, None, set()),
    ("${BAZ:?}", {"FOO": "xxx", "BAR": ""}, None, set()),
    ("${FOO=aaa}", {"FOO": "xxx", "BAR": ""}, None, set()),
    ("${FOO=:aaa}", {"FOO": "xxx", "BAR": ""}, None, set()),
    ("${FOO=}", {}, None, set()),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", {"FOO"}),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", {"FOO"}),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", {"FOO"}),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", {"FOO", "BAR"}),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy", {"FOO"}),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y", {"FOO"}),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO"}),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", {"FOO"}),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}),
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
     "/foo.*/*.txt - /foo..*.txt", {"FOO", "NEEDLE"}),
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
     "/tmp/bar.txt - /bar.txt", {"FOO", "NEEDLE"}),
    ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"}, "/foo/b/c.txt - /foo/c.txt",
     {"FOO", "NEEDLE", "REPLACEMENT"}),
    ("${FOO/$NEEDLE/$REPLACEMENT}", {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
     "https://google.de", {"FOO", "NEEDLE", "REPLACEMENT"}),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", {"FOO"}),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", {"FOO", "BAR"}),
    ("${FOO//ww}", {"FOO": "xxyy"}, None, set()),
    ("${FOO//}", {"FOO": "xxyy"}, None, set()),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO///}", {}, "", set()),
    # lex_test.go TestProcessWithMatchesPlatform
    ("something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
     {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
     "something-v1.2.3.linux-arm-v7.tar.gz", {"VERSION", "TARGETOS", "TARGETARCH", "TARGETVARIANT"}),
    ("something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
     {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "amd64"},
     "something-v1.2.3.linux-amd64.tar.gz", {"VERSION", "TARGETOS", "TARGETARCH"}),
]


@pytest.mark.parametrize(("word", "env", "expected", "matched"), PROCESS_WITH_MATCHES)
def test_process_with_matches(word: str, env: dict, expected: str | None, matched: set) -> None:
    lex = Lex()
    if expected is None:
        with pytest.raises(ShellError):
            lex.process(word, env)
        return
    assert lex.process(word, env)[0] == expected
    assert lex.matched == matched


# moby's envVarTest (builder/dockerfile/shell/envVarTest, the table buildkit's lex_test.go reads), copied to
# tests/builds/data: `platform|input|expected`, "error" for a failure; A and U rows apply here.
ENV_VAR_FILE = Path(__file__).parent / "data" / "envVarTest"
ENV_VAR_ROWS = [tuple(part.strip() for part in line.split("|")) for line in ENV_VAR_FILE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(("platform", "word", "expected"), [row for row in ENV_VAR_ROWS if row[0] in ("A", "U")])
def test_env_var_table(platform: str, word: str, expected: str) -> None:
    env = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어"}
    if expected == "error":
        with pytest.raises(ShellError):
            expand_word(word, env)
    else:
        assert expand_word(word, env) == expected


def test_env_var_table_is_complete() -> None:
    assert len(ENV_VAR_ROWS) == 136 and all(len(row) == 3 for row in ENV_VAR_ROWS)


def test_null_and_unset_operators() -> None:
    """`?` and `:?` tell an empty variable from an unset one (buildkit's NULL= rows)."""
    env = {"PWD": "/home", "NULL": ""}
    assert expand_word("he${NULL?}", env) == "he"
    assert expand_word("he${PWD:?}", env) == "he/home"
    for word in ("he${NULL:?}", "he${XXX?}", "he${XXX:?}"):
        with pytest.raises(ShellError):
            expand_word(word, env)
    assert expand_word("${NULL:-x}${NULL-y}${NULL:+z}${NULL+w}", env) == "xw"


# moby's wordsTest (builder/dockerfile/wordsTest, Apache-2.0): `ENV k=v` lines add to the environment, other
# lines are `input | comma-joined words`. The trailing spaces its comments insist on are restored as \\x20 (the
# reference copy had lost them); `hello" there` is left out: it predates buildkit's unterminated-quote error.
WORDS_TEST = """hello | hello
hello${hi}bye | hellobye
ENV hi=hi
hello${hi}bye | hellohibye
ENV space=abc  def
hello${space}bye | helloabc,defbye
hello"${space}"bye | helloabc  defbye
hello "${space}"bye | hello,abc  defbye
ENV leading=  ab c
hello${leading}def | hello,ab,cdef
hello"${leading}" def | hello  ab c,def
hello"${leading}" | hello  ab c
hello${leading} | hello,ab,c
# next line MUST have 3 trailing spaces, don't erase them!
ENV trailing=ab c\x20\x20\x20
hello${trailing} | helloab,c
hello${trailing}d | helloab,c,d
hello"${trailing}"d | helloab c   d
# next line MUST have 3 trailing spaces, don't erase them!
hel"lo${trailing}" | helloab c\x20\x20\x20
hello" there  " | hello there\x20\x20
hello there     | hello,there
hello\\ there | hello there
hello\\" there | hello",there
"""


def _words_rows() -> list[tuple[str, dict[str, str], list[str]]]:
    rows, env = [], {}
    for line in WORDS_TEST.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            key, _, value = line[3:].lstrip(" ").partition("=")
            env[key] = value
            continue
        source, expected = line.split("|")
        rows.append((source.strip(), dict(env), expected.lstrip(" ").split(",")))
    return rows


@pytest.mark.parametrize(("word", "env", "expected"), _words_rows())
def test_words_table(word: str, env: dict[str, str], expected: list[str]) -> None:
    assert expand_words(word, env) == expected


def test_words_edge_cases() -> None:
    assert expand_words("hello 'x y' \\${foo}", {"foo": "bar"}) == ["hello", "x y", "${foo}"]
    assert expand_words('"" x', {}) == ["x"]


def test_mandatory_env_vars() -> None:
    """lex_test.go TestShellParserMandatoryEnvVars: the message is expanded too."""
    assert expand_word("${VAR:?message here$ARG}", {"VAR": "plain", "ARG": "x"}) == "plain"
    for env in ({"VAR": "", "ARG": "x"}, {"ARG": "x"}):
        with pytest.raises(ShellError, match="message herex"):
            expand_word("${VAR:?message here$ARG}", env)
    assert expand_word("${VAR?message here$ARG}", {"VAR": "", "ARG": "x"}) == ""
    with pytest.raises(ShellError) as info:
        expand_word("${VAR?message here$ARG}", {"ARG": "x"})
    assert str(info.value) == 'failed to process "${VAR?message here$ARG}": VAR: message herex'


def test_backtick_escape() -> None:
    """With `# escape=\\``, the backtick escapes and a backslash is an ordinary character (Windows paths)."""
    assert expand_word("c:\\dir`$x", {"x": "1"}, escape="`") == "c:\\dir$x"
    assert expand_words("a` b c", {}, escape="`") == ["a b", "c"]


def test_skip_unset_env_keeps_unknown_variables() -> None:
    """The mode buildkit uses to find heredocs: unknown variables stay as written."""
    lex = Lex(skip_unset_env=True)
    assert lex.process("$A ${B} ${C:-x} ${D/a/b}", {})[0] == "$A ${B} ${C:-x} ${D/a/b}"


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'
