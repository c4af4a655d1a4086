"""The Dockerfile parser. Cases are ported from moby/buildkit (Apache-2.0): frontend/dockerfile/parser
(parser_test.go, parser_heredoc_test.go, testfiles/*/{Dockerfile,result} under tests/builds/data/buildkit,
testfiles-negative) and frontend/dockerfile/instructions/parse_test.go, compared through buildkit's own AST
dump format; plus docker's error messages for the instruction checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuiker.base.goquote import go_quote
from tuiker.engine.build.dockerfile import (
    DockerfileError,
    Instruction,
    heredocs_from_line,
    parse,
    parse_heredoc,
    parse_instructions,
)

DATA = Path(__file__).parent / "data" / "buildkit"


def dump(ins: Instruction) -> str:
    """buildkit's Node.Dump() of one instruction: `cmd ["--flag" ...] "arg" ...` (ENV/LABEL key, value)."""
    out = ins.cmd
    if ins.flags:
        out += " [" + " ".join(go_quote(f) for f in ins.flags) + "]"
    if ins.cmd == "onbuild" and ins.trigger is not None:
        return out + " (" + dump(ins.trigger) + ")"
    return " ".join([out, *(go_quote(arg) for arg in ins.args)])


def dump_all(text: str) -> str:
    nodes, _, _ = parse_instructions(text)
    return "".join(f"({dump(n)})\n" for n in nodes)


def error_of(text: str) -> str:
    with pytest.raises(DockerfileError) as info:
        parse(text)
    return str(info.value)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir() if p.is_dir()))
def test_buildkit_testfiles(name: str) -> None:
    """parser_test.go TestParseCases: the AST dump equals buildkit's `result` file."""
    text = (DATA / name / "Dockerfile").read_text()
    assert dump_all(text) == (DATA / name / "result").read_text()


@pytest.mark.parametrize(("text", "expected"), [
    # research notes §2.4 (buildkit testfiles/escape, continueIndent, ADD-COPY-with-JSON, flags, json)
    ("# escape = `\n\nFROM image\nMAINTAINER foo@bar.com\nENV GOPATH `\n\\go\n",
     '(from "image")\n(maintainer "foo@bar.com")\n(env "GOPATH" "\\\\go")\n'),
    ("FROM ubuntu:14.04\nRUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\\\n  light\\\nning\n",
     '(from "ubuntu:14.04")\n(run "echo hello  world  goodnight    moon  lightning")\n'),
    ('FROM ubuntu:14.04\nADD [ "test.tar.gz", "/" ]\nCOPY ["foo bar", "/tmp/"]\n',
     '(from "ubuntu:14.04")\n(add "test.tar.gz" "/")\n(copy "foo bar" "/tmp/")\n'),
    ("FROM a\nCOPY --from=build --chown=\"1:2\" x y\nRUN --mount=type=cache,target=/c echo\n",
     '(from "a")\n(copy ["--from=build" "--chown=1:2"] "x" "y")\n(run ["--mount=type=cache,target=/c"] "echo")\n'),
    ('FROM a\nCMD ["echo", "x"]\nCMD [ "echo" ,"y" ]\nCMD [\'single\']\nCMD ["unterminated"\n',
     '(from "a")\n(cmd "echo" "x")\n(cmd "echo" "y")\n(cmd "[\'single\']")\n(cmd "[\\"unterminated\\"")\n'),
    ("FROM a\nONBUILD RUN echo x\nonbuild add . /app\n",
     '(from "a")\n(onbuild (run "echo x"))\n(onbuild (add "." "/app"))\n'),
    ("FROM a\nLABEL a=b \"c d\"='e f' g=\"h\\\"i\"\n",
     '(from "a")\n(label "a" "b" "\\"c d\\"" "\'e f\'" "g" "\\"h\\\\\\"i\\"")\n'),
    ("FROM a\nRUN foo \\\n# comment\n  # indented comment\n  bar\n",
     '(from "a")\n(run "foo   bar")\n'),
    ("\ufeffFROM a\r\nRUN x\\\r\n y\r\n", '(from "a")\n(run "x y")\n'),
    ("FROM a\nVOLUME /a /b\nVOLUME [\"/c\", \"/d\"]\nEXPOSE 80/tcp\t443\n",
     '(from "a")\n(volume "/a" "/b")\n(volume "/c" "/d")\n(expose "80/tcp" "443")\n'),
    ("FROM a\nRUN echo \\\\\n", '(from "a")\n(run "echo \\\\\\\\")\n'),
    ("FROM a\nRUN echo x \\\n", '(from "a")\n(run "echo x")\n'),   # continue-at-eof
])
def test_ast(text: str, expected: str) -> None:
    assert dump_all(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # line_parsers: parseWords keeps quotes and escapes (parser_test.go TestParseWords)
    ("foo", ["foo"]), ("foo bar", ["foo", "bar"]), ("foo\\ bar", ["foo\\ bar"]), ("foo=bar", ["foo=bar"]),
    ("foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]), ('foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']),
    ("àöû", ["àöû"]), ('föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']),
])
def test_parse_words_via_arg(text: str, expected: list[str]) -> None:
    (node,), _, _ = parse_instructions("ARG " + text)
    assert node.args == expected


def test_tutorial_dockerfile() -> None:
    df = parse("FROM busybox\nWORKDIR /app\nCOPY . .\nRUN echo hi > /f\nEXPOSE 8080\nCMD [\"sh\", \"-c\", \"x\"]\n")
    (stage,) = df.stages
    assert stage.base == "busybox" and stage.name is None and stage.index == 0
    assert [(i.cmd, i.line, i.args, i.json) for i in stage.instructions] == [
        ("workdir", 2, ["/app"], False), ("copy", 3, [".", "."], False), ("run", 4, ["echo hi > /f"], False),
        ("expose", 5, ["8080"], False), ("cmd", 6, ["sh", "-c", "x"], True)]
    assert stage.instructions[2].original == "RUN echo hi > /f"


def test_multi_stage_and_meta_args() -> None:
    df = parse("ARG A=1 B\nFROM --platform=linux/amd64 busybox:$A AS Build\nRUN x\nFROM scratch\n"
               "COPY --from=build --link /a /b\n")
    assert [a.args for a in df.meta_args] == [["A=1", "B"]]
    assert [(s.index, s.name, s.base, s.platform) for s in df.stages] == [
        (0, "build", "busybox:$A", "linux/amd64"), (1, None, "scratch", None)]
    assert df.stage_index("BUILD") == 0
    copy = df.stages[1].instructions[0]
    assert (copy.flag("from"), copy.flag("link"), copy.flag("chown")) == ("build", "true", None)
    with pytest.raises(DockerfileError, match='^target stage "nope" could not be found$'):
        df.stage_index("nope")


def test_env_and_label_forms() -> None:
    df = parse('FROM a\nENV A=1 B="two words" C=\nENV D some value\nLABEL "com.x"=y\n')
    env1, env2, label = df.stages[0].instructions
    assert env1.key_values() == [("A", "1"), ("B", '"two words"'), ("C", "")] and not env1.legacy_kv
    assert env2.key_values() == [("D", "some value")] and env2.legacy_kv
    assert label.key_values() == [('"com.x"', "y")]


def test_line_numbers_and_original() -> None:
    text = "# comment\n\nFROM a\n\nRUN one \\\n  two \\\n\n  three\nCOPY <<EOF /x\nbody\nEOF\nCMD z\n"
    nodes, _, warnings = parse_instructions(text)
    assert [(n.cmd, n.line, n.end_line) for n in nodes] == [("from", 3, 3), ("run", 5, 8), ("copy", 9, 11),
                                                            ("cmd", 12, 12)]
    assert nodes[1].original == "RUN one   two   three"
    assert warnings[0] == "[WARNING]: Empty continuation line found in:\n    RUN one   two   three"


def test_warns_on_empty_continuation_line() -> None:
    """parser_test.go TestParseWarnsOnEmptyContinutationLine."""
    text = ("\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n"
            "    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\n"
            "RUN indented \\\n    # this is an indented comment\n    comment\n\t")
    _, _, warnings = parse_instructions(text)
    assert len(warnings) == 3
    assert "RUN something     following     more" in warnings[0]
    assert "RUN another     thing" in warnings[1]
    assert "will become errors in a future release" in warnings[2]


def test_too_long_line() -> None:
    """parser_test.go TestParseReturnsScannerErrors."""
    text = "\n\t\tFROM image\n\t\tLABEL test=" + "a" * 65536 + "\n"
    assert error_of(text) == "dockerfile line greater than max allowed size of 65535"


@pytest.mark.parametrize(("text", "message"), [
    ("# escape=x\nFROM a\n", "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\"),
    ("# escape=`\n# ESCAPE = \\\nFROM a\n", "dockerfile parse error on line 2: only one escape parser directive "
                                            "can be used"),
    ("# syntax=a\n#syntax=b\nFROM a\n", "dockerfile parse error on line 2: only one syntax parser directive can be "
                                        "used"),
])
def test_directive_errors(text: str, message: str) -> None:
    assert error_of(text) == message


def test_directives() -> None:
    df = parse("# Syntax = docker/dockerfile:1\n#   escape   =   `  \n# check=skip=all\nFROM a\nRUN dir c:\\x `\n  y\n")
    assert (df.syntax, df.escape, df.check) == ("docker/dockerfile:1", "`", "skip=all")
    assert df.stages[0].instructions[0].args == ["dir c:\\x   y"]
    # a directive after a comment, a blank line or an instruction is a comment
    for text in ("# hello\n# escape=`\nFROM a\nRUN x \\\n y\n", "\n# escape=`\nFROM a\nRUN x \\\n y\n",
                 "FROM a\n# escape=`\nRUN x \\\n y\n", "# unknown=1\n# escape=`\nFROM a\nRUN x \\\n y\n"):
        df = parse(text)
        assert df.escape == "\\" and df.stages[0].instructions[-1].args == ["x  y"]


# parser_heredoc_test.go TestParseExtractsHeredoc; the content is given after <<- tab stripping
HEREDOC_FILE = """
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-EXPAND
\texpand $NAME
EXPAND

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
\t"""

HEREDOC_EXPECTED = [
    [], [], [], [],
    [("EMPTY", "", True, False, 0)],
    [("EMPTY2", "", True, False, 3)],
    [],
    [("INDENT", "\tfoo\n\tbar\n", True, False, 0)],
    [("UNINDENT", "baz\nquux\n", True, True, 0)],
    [("UNINDENT2", "baz\nquux\n", True, True, 0)],
    [("EXPAND", "expand $NAME\n", True, True, 0)],
    [("NOEXPAND", "don't expand $NAME\n", False, True, 0)],
    [("COPY", "echo hello world\necho foo bar\n", True, False, 0)],
    [("COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n", True, False, 0)],
    [("MOUNT", "echo hello\n", True, False, 0)],
    [("FILE1", "content 1\n", True, False, 0), ("FILE2", "content 2\n", True, False, 0)],
    [("EOF", "\"foo\"\n'bar'\n", True, False, 0)],
    [("X", "Y\n", True, False, 0), ("Y", "X\n", True, False, 0)],
    [("COMPLEX", "print('hello world')\n", True, False, 0)],
    [("file.txt", "hello world\n", True, False, 0)],
    [("eof", "echo foo\n", False, False, 0)],
    [("eo'f", "echo foo\n", True, False, 0)],
    [("eo'f", "echo foo\n", False, False, 0)],
    [("one two", "echo bar\n", False, False, 0)],
    [("$EOF", "", True, False, 0)],
    [("EOF", "", True, False, 0)],
    [("EOF", "", True, False, 0)],
]


def test_heredocs_extracted() -> None:
    nodes, _, _ = parse_instructions(HEREDOC_FILE)
    got = [[(d.name, d.content, d.expand, d.chomp, d.fd) for d in n.heredocs] for n in nodes[1:]]
    assert got == HEREDOC_EXPECTED


def test_json_forms_have_no_heredocs() -> None:
    """parser_heredoc_test.go TestParseJSONHeredoc."""
    nodes, _, _ = parse_instructions('\nFROM alpine:3.6\n\nRUN ["whoami"]\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n\t')
    assert [n.heredocs for n in nodes[1:]] == [[], [], []]


@pytest.mark.parametrize("word", ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'", '<<-"EOF"', '<<EO"F"',
                                  "<< EOF", "<<- EOF"])
def test_heredoc_word_valid(word: str) -> None:
    assert parse_heredoc(word).name == "EOF"


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_heredoc_word_not_heredoc(word: str) -> None:
    assert parse_heredoc(word) is None


@pytest.mark.parametrize(("line", "names"), [
    ("RUN <<EOF", ["EOF"]), ("RUN <<-EOF", ["EOF"]), ("RUN <<- EOF", ["EOF"]), ("RUN << -EOF", ["-EOF"]),
    ("RUN <<'EOF'", ["EOF"]), ("RUN 4<<EOF", ["EOF"]), ("RUN <<EOF <<EOF2", ["EOF", "EOF2"]),
    ("RUN '<<EOF'", []), ('RUN "<<EOF"', []),
])
def test_heredocs_from_line(line: str, names: list[str]) -> None:
    """parser_heredoc_test.go TestHeredocsFromLine."""
    assert [d.name for d in heredocs_from_line(line)] == names


def test_onbuild_heredoc_and_expression() -> None:
    df = parse("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nONBUILD  copy --chown=1 x y\n")
    onbuild, onbuild2 = df.stages[0].instructions
    assert onbuild.trigger.cmd == "run" and [d.name for d in onbuild.trigger.heredocs] == ["EOF"]
    assert onbuild.expression == "RUN <<EOF\necho hi\nEOF"
    assert onbuild2.expression == "copy --chown=1 x y" and onbuild2.trigger.flags == ["--chown=1"]


def test_health_config() -> None:
    from tuiker.engine.build.dockerfile import health_config
    df = parse("FROM a\nHEALTHCHECK --interval=5s --timeout=1m30s --start-period=0s --retries=3 CMD curl -f x\n"
               "HEALTHCHECK CMD [\"/bin/check\", \"-q\"]\nHEALTHCHECK NONE\nHEALTHCHECK   CMD   a b\n")
    configs = [health_config(i) for i in df.stages[0].instructions]
    assert configs[0] == {"Test": ["CMD-SHELL", "curl -f x"], "Interval": 5_000_000_000,
                          "Timeout": 90_000_000_000, "StartPeriod": 0, "StartInterval": 0, "Retries": 3}
    assert configs[1]["Test"] == ["CMD", "/bin/check", "-q"]
    assert configs[2] == {"Test": ["NONE"]}
    assert configs[3]["Test"] == ["CMD-SHELL", "a b"]   # instructions/parse_test.go TestHealthCheckCmd


@pytest.mark.parametrize(("text", "message"), [
    # docker / buildkit wording; the line number is the instruction's first line
    ("", "file with no instructions"),
    ("# only a comment\n\n", "file with no instructions"),                 # testfiles-negative/only_comments
    ("RUN echo\n", "no build stage in current context"),
    ("ARG a\n", "No image was generated. Is your Dockerfile empty?"),
    ("FROM a b\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
    ("FROM\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
    ("FROM a AS 1x\n", 'dockerfile parse error on line 1: invalid name for build stage: "1x", '
                       "name can't start with a number or contain symbols"),
    ("FROM --platform a\n", "dockerfile parse error on line 1: Missing a value on flag: platform"),
    ("FROM a\n\nFOO bar\n", "dockerfile parse error on line 3: unknown instruction: FOO (did you mean FROM?)"),
    ("FROM a\nfoo bar\n", "dockerfile parse error on line 2: unknown instruction: foo (did you mean from?)"),
    ("FROM a\nRUUN x\n", "dockerfile parse error on line 2: unknown instruction: RUUN (did you mean RUN?)"),
    ("FROM a\ncopi x y\n", "dockerfile parse error on line 2: unknown instruction: copi (did you mean copy?)"),
    ("FROM a\nWorkDri x\n", "dockerfile parse error on line 2: unknown instruction: WorkDri (did you mean workdir?)"),
    ("FROM a\nXYZZY x\n", "dockerfile parse error on line 2: unknown instruction: XYZZY"),
    ("FROM a\nENV\n", "dockerfile parse error on line 2: ENV requires at least one argument"),
    ("FROM a\nLABEL\n", "dockerfile parse error on line 2: LABEL requires at least one argument"),
    ("FROM a\nENV =x\n", "dockerfile parse error on line 2: ENV names can not be blank"),
    ("FROM a\nLABEL =x\n", "dockerfile parse error on line 2: LABEL names can not be blank"),
    ("FROM a\nENV PATH\n", "dockerfile parse error on line 2: ENV must have two arguments"),   # env_no_value
    ("FROM a\nENV a=b c\n", "dockerfile parse error on line 2: Syntax error - can't find = in \"c\". "
                            "Must be of the form: name=value"),
    ("FROM a\nARG =x\n", "dockerfile parse error on line 2: ARG names can not be blank"),
    ("FROM a\nARG\n", "dockerfile parse error on line 2: ARG requires at least one argument"),
    ("FROM a\nCOPY --foo=1 a b\n", "dockerfile parse error on line 2: Unknown flag: foo"),
    ("FROM a\nADD --from=x a b\n", "dockerfile parse error on line 2: Unknown flag: from"),
    ("FROM a\nRUN --privileged x\n", "dockerfile parse error on line 2: Unknown flag: privileged"),
    ("FROM a\nMAINTAINER --boo joe@example.com\n", "dockerfile parse error on line 2: Unknown flag: boo"),
    ("FROM a\nCOPY a\n", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one "
                         "was provided. Destination could not be determined"),
    ("FROM a\nCOPY\t\n\t\tquux \\\n      bar\n", "dockerfile parse error on line 2: COPY requires at least two "
     "arguments, but only one was provided. Destination could not be determined"),
    ("FROM a\nADD x\n", "dockerfile parse error on line 2: ADD requires at least two arguments, but only one "
                        "was provided. Destination could not be determined"),
    ("FROM a\nCOPY a <<EOF\nx\nEOF\n", "dockerfile parse error on line 2: COPY cannot accept a heredoc as a "
                                      "destination"),
    ("FROM a\nCOPY --chown a b\n", "dockerfile parse error on line 2: Missing a value on flag: chown"),
    ("FROM a\nCOPY --link= a b\n", "dockerfile parse error on line 2: Missing a value on flag: link"),
    ("FROM a\nCOPY --link=maybe a b\n", "dockerfile parse error on line 2: Expecting boolean value for flag link, "
                                        "not: maybe"),
    ("FROM a\nCOPY --chown=1 --chown=2 a b\n", "dockerfile parse error on line 2: Duplicate flag specified: chown"),
    ("FROM a\nMAINTAINER\n", "dockerfile parse error on line 2: MAINTAINER requires exactly one argument"),
    ("FROM a\nWORKDIR\n", "dockerfile parse error on line 2: WORKDIR requires exactly one argument"),
    ("FROM a\nUSER\n", "dockerfile parse error on line 2: USER requires exactly one argument"),
    ("FROM a\nSTOPSIGNAL\n", "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument"),
    ("FROM a\nEXPOSE\n", "dockerfile parse error on line 2: EXPOSE requires at least one argument"),
    ("FROM a\nVOLUME\n", "dockerfile parse error on line 2: VOLUME requires at least one argument"),
    ("FROM a\nVOLUME [\"\"]\n", "dockerfile parse error on line 2: VOLUME specified can not be an empty string"),
    ("FROM a\nONBUILD\n", "dockerfile parse error on line 2: ONBUILD requires at least one argument"),
    ("FROM a\nONBUILD ONBUILD RUN touch foobar\n", "dockerfile parse error on line 2: Chaining ONBUILD via "
                                                   "`ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nONBUILD FROM scratch\n", "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD maintainer x\n", "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD "
                                       "trigger"),
    ("FROM a\nSHELL sh -c\n", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
    ("FROM a\nSHELL []\n", "dockerfile parse error on line 2: SHELL requires at least one argument"),
    ("FROM a\nCMD [ \"echo\", [ \"nested json\" ] ]\n", "dockerfile parse error on line 2: when using JSON array "
     "syntax, arrays must be comprised of strings only"),                 # testfiles-negative/shykes-nested-json
    ("FROM a\nHEALTHCHECK\n", "dockerfile parse error on line 2: HEALTHCHECK requires at least one argument"),
    ("FROM a\nHEALTHCHECK CMD\n", "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK CONNECT TCP 7000\n", 'dockerfile parse error on line 2: Unknown type "CONNECT" in '
                                               "HEALTHCHECK (try CMD)"),
    ("FROM a\nHEALTHCHECK NONE x\n", "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nHEALTHCHECK --interval=50ns CMD x\n", 'dockerfile parse error on line 2: Interval "interval" cannot '
                                                    "be less than 1ms"),
    ("FROM a\nHEALTHCHECK --timeout=abc CMD x\n", 'dockerfile parse error on line 2: time: invalid duration "abc"'),
    ("FROM a\nHEALTHCHECK --timeout=10 CMD x\n", 'dockerfile parse error on line 2: time: missing unit in '
                                                 'duration "10"'),
    ("FROM a\nHEALTHCHECK --timeout=1d CMD x\n", 'dockerfile parse error on line 2: time: unknown unit "d" in '
                                                 'duration "1d"'),
    ("FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "dockerfile parse error on line 2: --retries cannot be negative "
                                                 "(-1)"),
    ("FROM a\nHEALTHCHECK --retries=x CMD x\n", 'dockerfile parse error on line 2: strconv.ParseInt: parsing "x": '
                                                "invalid syntax"),
    ("FROM a\nHEALTHCHECK --foo=1 CMD x\n", "dockerfile parse error on line 2: Unknown flag: foo"),
    ("FROM a\nRUN <<EOF\nx\n", "dockerfile parse error on line 2: unterminated heredoc"),
    ("FROM a\nRUN x\nFROM b c\nFOO\n", "dockerfile parse error on line 3: FROM requires either one or three arguments"),
])
def test_errors(text: str, message: str) -> None:
    assert error_of(text) == message


def test_parse_errors_before_instruction_errors() -> None:
    """The whole file is read before any instruction is checked, as buildkit (parser, then instructions)."""
    assert error_of("FROM a\nFOO\nRUN <<EOF\n") == "dockerfile parse error on line 3: unterminated heredoc"


def test_bytes_input_and_cr_only_lines() -> None:
    df = parse(b"FROM a\nRUN printf 'a\rb'\n")
    assert df.stages[0].instructions[0].args == ["printf 'a\rb'"]


def test_helpers_for_the_builder() -> None:
    df = parse("FROM a\nARG X Y=1 Z=\nCOPY --chown=1:1 a <<EOF b <<-'TWO' /dst/\nfirst $x\nEOF\n\tsecond\n\tTWO\n")
    arg, copy = df.stages[0].instructions
    assert arg.arg_pairs() == [("X", None), ("Y", "1"), ("Z", "")]
    paths, docs, dest = copy.sources_and_dest()
    assert (paths, dest) == (["a", "b"], "/dst/")
    assert [(d.name, d.content, d.expand) for d in docs] == [("EOF", "first $x\n", True), ("TWO", "second\n", False)]


def test_line_numbers_testfile() -> None:
    """parser_test.go TestParseIncludesLineNumbers on moby's testfile-line (this copy starts one line earlier
    than buildkit's, whose expectation is {5,5} {11,12} {17,31})."""
    nodes, _, warnings = parse_instructions((DATA.parent / "testfile-line").read_text())
    assert [(n.line, n.end_line) for n in nodes] == [(4, 4), (10, 11), (16, 30)]
    assert nodes[1].key_values() == [("GOPATH", "/go")]
    assert len(warnings) == 2
