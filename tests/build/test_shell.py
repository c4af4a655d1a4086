"""The Dockerfile shell lexer against buildkit's own tables (moby/buildkit frontend/dockerfile/shell/lex_test.go:
TestProcessWithMatches, TestShellParserMandatoryEnvVars, and rows of envVarTest / wordsTest, unix ones)."""

from __future__ import annotations

import pytest

from tuiker.engine.build.shell import Lex, ShellError, expand_word, expand_words, go_quote

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


# envVarTest (unix rows; env PWD=/home SHELL=bash KOREAN=한국어 NULL=)
ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}
ENV_VAR_TEST = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", None),
    ("he\\'llo", "he'llo"),
    ("he\\\\'llo", None),
    ("abc\\\\def", "abc\\def"),
    ('"hello"', "hello"),
    ('"hello', None),
    ("'hello'", "hello"),
    ("'hello\\'", "hello\\"),
    ('"hello\\""', 'hello"'),
    ('"hel\\lo"', "hel\\lo"),
    ("he\\$PWD", "he$PWD"),
    ('"he\\$PWD"', "he$PWD"),
    ("'he\\$PWD'", "he\\$PWD"),
    ("he$PWD", "he/home"),
    ('"he$PWD"', "he/home"),
    ("'he$PWD'", "he$PWD"),
    ("he${PWD", None),
    ("he${PWD}", "he/home"),
    ("he${PWD:=000}xx", None),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${XXX:YYY}", None),
    ("he${XXX?}", None),
    ("he${XXX:?}", None),
    ("he${PWD?}", "he/home"),
    ("he${PWD:?}", "he/home"),
    ("he${NULL?}", "he"),
    ("he${NULL:?}", None),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ('"he\'$PWD\'"', "he'/home'"),
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("'\"hello\"'", '"hello"'),
    ("he\\$PWD", "he$PWD"),
    ('"he\\$PWD"', "he$PWD"),
    ("'he\\$PWD'", "he\\$PWD"),
    ("he${PWD", None),
    ("he${PWD:=000}xx", None),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("$KOREAN", "한국어"),
    ("안녕$KOREAN", "안녕한국어"),
    ("${}", None),
    ("${", None),
    ("${:}", None),
    ("$", "$"),
    ("$1x", "x"),
    ("${1}x", "x"),
    ("${XXX:-\\}}", "}"),
    ("$#", ""),
    ("${#}", ""),
]


@pytest.mark.parametrize(("word", "expected"), ENV_VAR_TEST)
def test_env_var_table(word: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ShellError):
            expand_word(word, ENV)
    else:
        assert expand_word(word, ENV) == expected


# wordsTest: each row with the ENVs given before it in the file
WORDS_ENV = {"foo": "bar", "fooo": "bar baz"}
WORDS_TEST = [
    ("hello", ["hello"]),
    ("hello${hi}bye", ["hellobye"]),
    ("hello ${foo}", ["hello", "bar"]),
    ("hello ${fooo}", ["hello", "bar", "baz"]),
    ('hello "${fooo}"', ["hello", "bar baz"]),
    ("hello '${fooo}'", ["hello", "${fooo}"]),
    ("hello \\${fooo}", ["hello", "${fooo}"]),
    ('hello "\\${fooo}"', ["hello", "${fooo}"]),
    ("hello'x'y", ["helloxy"]),
    ("hello 'x y'", ["hello", "x y"]),
    ("a\\ b", ["a b"]),
    ("  a   b  ", ["a", "b"]),
    ('"" x', ["x"]),
]


@pytest.mark.parametrize(("word", "expected"), WORDS_TEST)
def test_words_table(word: str, expected: list[str]) -> None:
    assert expand_words(word, WORDS_ENV) == expected


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
