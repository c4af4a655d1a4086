"""The Dockerfile parser. Cases are ported from moby/buildkit (frontend/dockerfile/parser: parser_test.go,
parser_heredoc_test.go, line_parsers_test.go, testfiles/*/Dockerfile + result; frontend/dockerfile/
instructions/parse_test.go), checked through buildkit's own AST dump format, and docker's error messages."""

from __future__ import annotations

import pytest

from tuiker.engine.build.dockerfile import DockerfileError, Instruction, parse
from tuiker.engine.build.shell import go_quote


def dump(ins: Instruction) -> str:
    """buildkit's Node.Dump() for one instruction: `cmd ["--flag"] "arg" ...`, ENV/LABEL as key/value/sep."""
    out = ins.cmd
    if ins.flags:
        out += " [" + " ".join(go_quote(f) for f in ins.flags) + "]"
    if ins.cmd == "onbuild" and ins.trigger is not None:
        return out + " (" + dump(ins.trigger) + ")"
    if ins.cmd in ("env", "label"):
        sep = "" if ins.legacy_kv else "="
        for key, value in ins.key_values():
            out += f" {go_quote(key)} {go_quote(value)} {go_quote(sep)}"
        return out
    for arg in ins.args:
        out += " " + go_quote(arg)
    return out


def dump_all(text: str) -> list[str]:
    df = parse(text)
    nodes = [*df.meta_args]
    for stage in df.stages:
        nodes += [stage.from_instruction, *stage.instructions]
    nodes.sort(key=lambda n: n.line)
    return ["(" + dump(n) + ")" for n in nodes]


def error_of(text: str) -> str:
    with pytest.raises(DockerfileError) as info:
        parse(text)
    return str(info.value)


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
               "COPY --from=build /a /b\n")
    assert [a.args for a in df.meta_args] == [["A=1", "B"]]
    assert [(s.index, s.name, s.base, s.platform) for s in df.stages] == [
        (0, "build", "busybox:$A", "linux/amd64"), (1, None, "scratch", None)]
    assert df.stage_index("BUILD") == 0
    assert df.stages[1].instructions[0].flag("from") == "build"
    with pytest.raises(DockerfileError, match='target stage "nope" could not be found'):
        df.stage_index("nope")


@pytest.mark.parametrize(("text", "message"), [
    ("", "file with no instructions"),
    ("# only a comment\n\n", "file with no instructions"),
    ("RUN echo\n", "no build stage in current context"),
    ("FROM a b\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
    ("FROM a AS 1x\n", 'dockerfile parse error on line 1: invalid name for build stage: "1x", '
                       "name can't start with a number or contain symbols"),
    ("FROM a\n\nFOO bar\n", "dockerfile parse error on line 3: unknown instruction: FOO"),
    ("FROM a\nENV\n", "dockerfile parse error on line 2: ENV requires at least one argument"),
    ("FROM a\nENV =x\n", "dockerfile parse error on line 2: ENV names can not be blank"),
    ("FROM a\nENV PATH\n", "dockerfile parse error on line 2: ENV must have two arguments"),
    ("FROM a\nENV a=b c\n", "dockerfile parse error on line 2: Syntax error - can't find = in \"c\". "
                            "Must be of the form: name=value"),
    ("FROM a\nCOPY --foo=1 a b\n", "dockerfile parse error on line 2: Unknown flag: foo"),
    ("FROM a\nADD --from=x a b\n", "dockerfile parse error on line 2: Unknown flag: from"),
    ("FROM a\nCOPY a\n", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one "
                         "was provided. Destination could not be determined"),
    ("FROM a\nCOPY --chown a b\n", "dockerfile parse error on line 2: Missing a value on flag: chown"),
    ("FROM a\nCOPY --chown=1 --chown=2 a b\n", "dockerfile parse error on line 2: Duplicate flag specified: chown"),
    ("FROM a\nWORKDIR\n", "dockerfile parse error on line 2: WORKDIR requires exactly one argument"),
    ("FROM a\nUSER\n", "dockerfile parse error on line 2: USER requires exactly one argument"),
    ("FROM a\nEXPOSE\n", "dockerfile parse error on line 2: EXPOSE requires at least one argument"),
    ("FROM a\nSHELL sh -c\n", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
    ("FROM a\nCMD [1, 2]\n", "dockerfile parse error on line 2: when using JSON array syntax, arrays must be "
                             "comprised of strings only"),
])
def test_errors(text: str, message: str) -> None:
    assert error_of(text) == message
