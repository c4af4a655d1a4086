"""tuiker.gotemplate against Go's text/template: each row's expected output or error is what Go's own
text/template printed for it (Go 1.19, with docker's template functions registered as docker/cli does),
over data as Go decodes JSON (numbers are float64, objects map[string]interface{}). Then the places where
docker's typed values differ from raw JSON (lists of strings are []string, Labels a map[string]string), and
the CLI's formatting helpers."""

from __future__ import annotations

import pytest

from tuiker import gotemplate as gt
from tuiker.base.goquote import go_quote
from tuiker.fmt import bytes_size, ellipsis, tabwrite

D = {"A": "a", "N": 3.0, "F": 1.5, "T": True, "Z": 0.0, "E": "", "L": ["x", "y"], "EL": [], "EM": {},
     "M": {"b": 2.0, "a": 1.0, "c": 3.0}, "S": {"X": "sx", "Y": {"Z": "deep"}}, "Nil": None,
     "Labels": {"com.x": "1", "z": "<&>"}}
D2 = {"A": "a", "L": ["x", "y"], "M": {"k": "v"}, "N": 2.0}

# (template, data, missingkey=error, "out" or "err", Go's output or error)
GO_CASES = [
    ('hello', D, False, 'out', 'hello'),
    ('{{.A}}', D, False, 'out', 'a'),
    ('{{.S.Y.Z}}', D, False, 'out', 'deep'),
    ('{{.}}', 'dot', False, 'out', 'dot'),
    ('{{.Missing}}', D, False, 'out', '<no value>'),
    ('{{.Missing.X}}', D, False, 'out', '<no value>'),
    ('{{.A.X}}',
     D, False, 'err',
     'template: :1:4: executing "" at <.A.X>: can\'t evaluate field X in type interface {}'),
    ('{{.Nil.X}}', D, False, 'err', 'template: :1:6: executing "" at <.Nil.X>: nil pointer evaluating interface {}.X'),
    ('{{.L.X}}',
     D, False, 'err',
     'template: :1:4: executing "" at <.L.X>: can\'t evaluate field X in type interface {}'),
    ('{{.N}} {{.F}} {{.T}} {{.Nil}} {{.L}} {{.M}} {{.EL}} {{.EM}}',
     D, False, 'out',
     '3 1.5 true <no value> [x y] map[a:1 b:2 c:3] [] map[]'),
    ('{{if .T}}T{{else}}F{{end}}', D, False, 'out', 'T'),
    ('{{if .Z}}T{{else}}F{{end}}', D, False, 'out', 'F'),
    ('{{if .E}}T{{else}}F{{end}}', D, False, 'out', 'F'),
    ('{{if .EL}}T{{else}}F{{end}}', D, False, 'out', 'F'),
    ('{{if .EM}}T{{else}}F{{end}}', D, False, 'out', 'F'),
    ('{{if .Nil}}T{{else}}F{{end}}', D, False, 'out', 'F'),
    ('{{if .Missing}}T{{else}}F{{end}}', D, False, 'out', 'F'),
    ('{{if .S}}T{{else}}F{{end}}', D, False, 'out', 'T'),
    ('{{if .L}}T{{else}}F{{end}}', D, False, 'out', 'T'),
    ('{{if 0.0}}T{{else}}F{{end}}', D, False, 'out', 'F'),
    ('{{if ""}}T{{else}}F{{end}}', D, False, 'out', 'F'),
    ('{{if nil}}T{{end}}', D, False, 'err', 'template: :1:5: executing "" at <nil>: nil is not a command'),
    ('{{if eq .A "b"}}B{{else if eq .A "a"}}A{{else}}none{{end}}', D, False, 'out', 'A'),
    ('{{if false}}1{{else if false}}2{{else if true}}3{{end}}', D, False, 'out', '3'),
    ('{{if false}}1{{else if false}}2{{end}}', D, False, 'out', ''),
    ('{{with .S}}{{.X}}{{end}}', D, False, 'out', 'sx'),
    ('{{with .E}}x{{else}}empty{{end}}', D, False, 'out', 'empty'),
    ('{{with $v := .A}}{{$v}}{{.}}{{end}}', D, False, 'out', 'aa'),
    ('{{with .Missing}}x{{else}}{{.A}}{{end}}', D, False, 'out', 'a'),
    ('{{range .L}}[{{.}}]{{end}}', D, False, 'out', '[x][y]'),
    ('{{range .M}}{{.}}{{end}}', D, False, 'out', '123'),
    ('{{range $k, $v := .M}}{{$k}}={{$v}},{{end}}', D, False, 'out', 'a=1,b=2,c=3,'),
    ('{{range $i, $v := .L}}{{$i}}:{{$v}} {{end}}', D, False, 'out', '0:x 1:y '),
    ('{{range .EL}}x{{else}}none{{end}}', D, False, 'out', 'none'),
    ('{{range .EM}}x{{else}}none{{end}}', D, False, 'out', 'none'),
    ('{{range .Nil}}x{{else}}none{{end}}', D, False, 'out', 'none'),
    ('{{range .Missing}}x{{else}}none{{end}}', D, False, 'out', 'none'),
    ('{{range .A}}x{{end}}', D, False, 'err', 'template: :1:8: executing "" at <.A>: range can\'t iterate over a'),
    ('{{range .N}}x{{end}}', D, False, 'err', 'template: :1:8: executing "" at <.N>: range can\'t iterate over 3'),
    ('{{range .S}}x{{end}}', D, False, 'out', 'xx'),
    ('{{range $x := .L}}{{$x}}{{end}}', D, False, 'out', 'xy'),
    ('{{range .L}}{{if eq . "x"}}{{continue}}{{end}}{{.}}{{end}}', D, False, 'out', 'y'),
    ('{{range .L}}{{.}}{{break}}{{end}}', D, False, 'out', 'x'),
    ('{{range .L}}{{$.A}}{{end}}', D, False, 'out', 'aa'),
    ('{{range $i, $e := .L}}{{range $j, $f := $.L}}{{$i}}{{$j}} {{end}}{{end}}', D, False, 'out', '00 01 10 11 '),
    ('{{$x := .A}}{{$x}}', D, False, 'out', 'a'),
    ('{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', D, False, 'out', '2'),
    ('{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}', D, False, 'out', '21'),
    ('{{if true}}{{$y := 1}}{{end}}{{$y}}', D, False, 'err', 'template: :1: undefined variable "$y"'),
    ('{{$}}', 'root', False, 'out', 'root'),
    ('{{with .S}}{{$.A}}{{end}}', D, False, 'out', 'a'),
    ('{{$x := .S}}{{$x.Y.Z}}', D, False, 'out', 'deep'),
    ('{{$x}}', D, False, 'err', 'template: :1: undefined variable "$x"'),
    ('{{range $i, $e := .L}}{{end}}{{$i}}', D, False, 'err', 'template: :1: undefined variable "$i"'),
    ('{{$x := 1}}{{$x = 2}}{{$x}}', D, False, 'out', '2'),
    ('{{$a, $b := .L}}', D, False, 'err', 'template: :1: too many declarations in command'),
    ('{{.A | printf "%s!"}}', D, False, 'out', 'a!'),
    ('{{"x" | printf "%s %s" "y"}}', D, False, 'out', 'y x'),
    ('{{.N | printf "%d" | printf "%q"}}', D, False, 'out', '"%!d(float64=3)"'),
    ('{{.A | 3}}', D, False, 'err', 'template: :1: non executable command in pipeline stage 2'),
    ('{{(printf "%s" .A)}}', D, False, 'out', 'a'),
    ('{{(.S).X}}', D, False, 'out', 'sx'),
    ('{{(index .L 1)}}', D, False, 'out', 'y'),
    ('{{.A 1}}', D, False, 'err', 'template: :1:2: executing "" at <.A>: A is not a method but has arguments'),
    ('{{1 2}}', D, False, 'err', 'template: :1:2: executing "" at <1>: can\'t give argument to non-function 1'),
    ('{{nil}}', D, False, 'err', 'template: :1:2: executing "" at <nil>: nil is not a command'),
    ('{{.S.X 1}}', D, False, 'err', 'template: :1:4: executing "" at <.S.X>: X is not a method but has arguments'),
    ('{{eq .A "a"}} {{eq .A "b" "a"}} {{ne .A "a"}} {{eq .N 3.0}} {{eq .T true}}',
     D, False, 'out',
     'true true false true true'),
    ('{{lt 1 2}} {{le 2 2}} {{gt 3 2}} {{ge 1 2}} {{lt "a" "b"}} {{gt 1.5 1.2}}',
     D, False, 'out',
     'true true true false true true'),
    ('{{eq 1 "a"}}',
     D, False, 'err',
     'template: :1:2: executing "" at <eq 1 "a">: error calling eq: incompatible types for comparison'),
    ('{{lt true false}}',
     D, False, 'err',
     'template: :1:2: executing "" at <lt true false>: error calling lt: invalid type for comparison'),
    ('{{eq .Missing "x"}}', D, False, 'out', 'false'),
    ('{{eq .Nil nil}}', D, False, 'out', 'true'),
    ('{{eq}}',
     D, False, 'err',
     'template: :1:2: executing "" at <eq>: wrong number of args for eq: want at least 1 got 0'),
    ('{{eq 1}}',
     D, False, 'err',
     'template: :1:2: executing "" at <eq 1>: error calling eq: missing argument for comparison'),
    ('{{lt 1}}', D, False, 'err', 'template: :1:2: executing "" at <lt>: wrong number of args for lt: want 2 got 1'),
    ('{{ne 1 1.5}}',
     D, False, 'err',
     'template: :1:2: executing "" at <ne 1 1.5>: error calling ne: incompatible types for comparison'),
    ('{{and 1 0 2}} {{and 1 2}} {{or 0 "" 3}} {{or 0 ""}} {{not 0}} {{not .A}}', D, False, 'out', '0 2 3  true false'),
    ('{{and .Missing 1}}|{{or .Missing}}|{{not .Missing}}', D, False, 'out', '<no value>|<no value>|true'),
    ('{{and}}',
     D, False, 'err',
     'template: :1:2: executing "" at <and>: wrong number of args for and: want at least 1 got 0'),
    ('{{not 1 2}}',
     D, False, 'err',
     'template: :1:2: executing "" at <not>: wrong number of args for not: want 1 got 2'),
    ('{{if and .T .A}}y{{end}}{{if or .Z .E}}n{{else}}y{{end}}', D, False, 'out', 'yy'),
    ('{{0 | and 1}}', D, False, 'out', '0'),
    ('{{1 | or 0}}', D, False, 'out', '1'),
    ('{{len .L}} {{len .M}} {{len .A}} {{len "héllo"}}', D, False, 'out', '2 3 1 6'),
    ('{{len 3}}', D, False, 'err', 'template: :1:2: executing "" at <len 3>: error calling len: len of type int'),
    ('{{len .Missing}}',
     D, False, 'err',
     'template: :1:2: executing "" at <len .Missing>: error calling len: reflect: call of reflect.Value.Type '
     'on zero Value'),
    ('{{index .L 5}}',
     D, False, 'err',
     'template: :1:2: executing "" at <index .L 5>: error calling index: index out of range: 5'),
    ('{{index .Missing "x"}}',
     D, False, 'err',
     'template: :1:2: executing "" at <index .Missing "x">: error calling index: index of untyped nil'),
    ('{{index .A 0}}', D, False, 'out', '97'),
    ('{{index .N 0}}',
     D, False, 'err',
     'template: :1:2: executing "" at <index .N 0>: error calling index: can\'t index item of type float64'),
    ('{{slice .L 1}} {{slice .A 0 1}} {{slice "hello" 1 3}} {{slice .L}}', D, False, 'out', '[y] a el [x y]'),
    ('{{slice .L 3}}',
     D, False, 'err',
     'template: :1:2: executing "" at <slice .L 3>: error calling slice: index out of range: 3'),
    ('{{slice .L 2 1}}',
     D, False, 'err',
     'template: :1:2: executing "" at <slice .L 2 1>: error calling slice: invalid slice index: 2 > 1'),
    ('{{print 1 2 "a" "b" 3 .T .Nil}}', D, False, 'out', '1 2ab3 true <nil>'),
    ('{{println 1 "a" .L}}', D, False, 'out', '1 a [x y]\n'),
    ('{{print}}|{{println}}|', D, False, 'out', '|\n|'),
    ('{{printf "%s-%d-%v-%t-%q" .A 7 .L .T "q\\""}}', D, False, 'out', 'a-7-[x y]-true-"q\\""'),
    ('{{printf "%5s|%-5s|%.2s|%05d|%x|%X|%o|%b" "ab" "ab" "abcdef" 42 255 255 8 5}}',
     D, False, 'out',
     '   ab|ab   |ab|00042|ff|FF|10|101'),
    ('{{printf "%6.2f|%e|%g|%v|%v" 3.14159 1234.5678 0.000012345 1e6 123456.0}}',
     D, False, 'out',
     '  3.14|1.234568e+03|1.2345e-05|1e+06|123456'),
    ('{{printf "%d %s" "x" 3}}|{{printf "%d"}}|{{printf "%d" 1 2}}|{{printf "%z" 1}}|{{printf "%"}}|{{printf '
     '"100%%"}}',
     D, False, 'out',
     '%!d(string=x) %!s(int=3)|%!d(MISSING)|1%!(EXTRA int=2)|%!z(int=1)|%!(NOVERB)|100%'),
    ('{{printf "%v|%+v|%s|%d" .M .S .L .L}}',
     D, False, 'out',
     'map[a:1 b:2 c:3]|map[X:sx Y:map[Z:deep]]|[x y]|[%!d(string=x) %!d(string=y)]'),
    ('{{printf "%c%c %U %q" 72 105 65 65}}', D, False, 'out', "Hi U+0041 'A'"),
    ('{{printf "%*d|%-*d|%.*f" 5 1 4 2 2 3.14159}}', D, False, 'out', '    1|2   |3.14'),
    ('{{printf "%[2]s %[1]s" "a" "b"}}', D, False, 'out', 'b a'),
    ('{{printf "%+d % d %+.1f" 5 5 2.0}}', D, False, 'out', '+5  5 +2.0'),
    ('{{printf "%x % x %#x" "hi" "hi" 255}}', D, False, 'out', '6869 68 69 0xff'),
    ('{{printf "%s" .Nil}}|{{printf "%v" .Missing}}|{{printf "%d" .T}}',
     D, False, 'out',
     '%!s(<nil>)|<nil>|%!d(bool=true)'),
    ('{{printf "%q" "é\\u0001\\t"}} {{printf "%+q" "é"}} {{printf "%#q" "a"}}',
     D, False, 'out',
     '"é\\x01\\t" "\\u00e9" `a`'),
    ('{{printf "%8.3v|%-8v|%08.3f|%x" 3.14159 "ab" -3.14159 -255}}', D, False, 'out', '    3.14|ab      |-003.142|-ff'),
    ('{{printf "%s" 1.5}} {{printf "%d" 1.5}}', D, False, 'out', '%!s(float64=1.5) %!d(float64=1.5)'),
    ('{{printf 3}}', D, False, 'err', 'template: :1:9: executing "" at <3>: expected string; found 3'),
    ('{{printf}}',
     D, False, 'err',
     'template: :1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0'),
    ('{{html "<a href=\'x\'>&\\""}} {{urlquery "a b&c=d/é"}} {{js "a\'b<\\"\\n"}}',
     D, False, 'out',
     '&lt;a href=&#39;x&#39;&gt;&amp;&#34; a+b%26c%3Dd%2F%C3%A9 a\\\'b\\u003C\\"\\u000A'),
    ('{{html 1 "a"}}', D, False, 'out', '1a'),
    ("{{1}} {{-1}} {{+2}} {{1.5}} {{1e3}} {{1.0}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}} {{.5}} {{'a'}"
     "} {{'\\n'}}",
     D, False, 'out',
     '1 -1 2 1.5 1000 1 31 15 15 5 1000 0.5 97 10'),
    ('{{"a\\tb\\u00e9\\x41\\101"}}|{{`raw\\n`}}|{{true}} {{false}}', D, False, 'out', 'a\tbéAA|raw\\n|true false'),
    ('{{"\\q"}}', D, False, 'err', 'template: :1: invalid syntax'),
    ('{{3x}}', D, False, 'err', 'template: :1: bad number syntax: "3x"'),
    ("{{'ab'}}", D, False, 'err', "template: :1: malformed character constant: 'ab'"),
    ('{{"unterminated}}', D, False, 'err', 'template: :1: unterminated quoted string'),
    ('{{`raw}}', D, False, 'err', 'template: :1: unterminated raw quoted string'),
    ("{{'a}}", D, False, 'err', 'template: :1: unterminated character constant'),
    ('{{+}}', D, False, 'err', 'template: :1: illegal number syntax: "+"'),
    ('a  {{- .A -}}  b', D, False, 'out', 'aab'),
    ('a {{- .A}} b {{.A -}} c', D, False, 'out', 'aa b ac'),
    ('x\n  {{- /* comment */ -}}\n  y', D, False, 'out', 'xy'),
    ('{{/* a comment */}}z', D, False, 'out', 'z'),
    ('{{- /* c */ -}}', D, False, 'out', ''),
    ('{{/* unclosed', D, False, 'err', 'template: :1: unclosed comment'),
    ('{{/* c */ x}}', D, False, 'err', 'template: :1: comment ends before closing delimiter'),
    ('{{.A-}}', D, False, 'err', "template: :1: bad character U+002D '-'"),
    ('{{-.N}}', D, False, 'err', 'template: :1: bad number syntax: "-.N"'),
    ('{{- .N}}', D, False, 'out', '3'),
    ('{{.N -}}\n\n x', D, False, 'out', '3x'),
    ('a\n{{- "b" -}}\nc', D, False, 'out', 'abc'),
    ('{{.A', D, False, 'err', 'template: :1: unclosed action'),
    ('{{.A}', D, False, 'err', "template: :1: bad character U+007D '}'"),
    ('{{', D, False, 'err', 'template: :1: unclosed action'),
    ('}}', D, False, 'out', '}}'),
    ('{{end}}', D, False, 'err', 'template: :1: unexpected {{end}}'),
    ('{{else}}', D, False, 'err', 'template: :1: unexpected {{else}}'),
    ('{{if .A}}', D, False, 'err', 'template: :1: unexpected EOF'),
    ('{{if .A}}{{else}}', D, False, 'err', 'template: :1: unexpected EOF'),
    ('{{range}}{{end}}', D, False, 'err', 'template: :1: missing value for range'),
    ('{{if}}{{end}}', D, False, 'err', 'template: :1: missing value for if'),
    ('{{with}}{{end}}', D, False, 'err', 'template: :1: missing value for with'),
    ('{{}}', D, False, 'err', 'template: :1: missing value for command'),
    ('{{nofunc}}', D, False, 'err', 'template: :1: function "nofunc" not defined'),
    ('{{nofunc .A}}', D, False, 'err', 'template: :1: function "nofunc" not defined'),
    ('{{$undefined}}', D, False, 'err', 'template: :1: undefined variable "$undefined"'),
    ('{{.A | }}', D, False, 'out', 'a'),
    ('{{| .A}}', D, False, 'err', 'template: :1: unexpected "|" in command'),
    ('{{.A )}}', D, False, 'err', 'template: :1: unexpected ")" in command'),
    ('{{(.A}}', D, False, 'err', 'template: :1: unclosed left paren'),
    ('{{.A.}}', D, False, 'err', 'template: :1: unexpected <.> in operand'),
    ('{{a-b}}', D, False, 'err', "template: :1: bad character U+002D '-'"),
    ('{{.A , .B}}', D, False, 'err', 'template: :1: unexpected "," in operand'),
    ('{{"a".B}}', D, False, 'err', 'template: :1: unexpected . after term "\\"a\\""'),
    ('{{1.x}}', D, False, 'err', 'template: :1: bad number syntax: "1.x"'),
    ('{{:}}', D, False, 'err', 'template: :1: expected :='),
    ('{{@}}', D, False, 'err', 'template: :1: unexpected "@" in command'),
    ('{{é}}', D, False, 'err', 'template: :1: function "é" not defined'),
    ('{{if .A}}{{else}}{{else}}{{end}}', D, False, 'err', 'template: :1: expected end; found {{else}}'),
    ('{{range .L}}{{else if .A}}{{end}}', D, False, 'err', 'template: :1: unexpected <if> in input'),
    ('{{break}}', D, False, 'err', 'template: :1: {{break}} outside {{range}}'),
    ('{{if .A}}x{{end}}{{end}}', D, False, 'err', 'template: :1: unexpected {{end}}'),
    ('line1\nline2 {{.A', D, False, 'err', 'template: :2: unclosed action'),
    ('{{define "x"}}{{end}}{{template "x"}}ok', D, False, 'out', 'ok'),
    ('{{define "T"}}<{{.}}>{{end}}{{template "T" .A}}{{template "T"}}', D, False, 'out', '<a><<no value>>'),
    ('{{template "nope"}}',
     D, False, 'err',
     'template: :1:11: executing "" at <{{template "nope"}}>: template "nope" not defined'),
    ('{{block "B" .A}}[{{.}}]{{end}}', D, False, 'out', '[a]'),
    ('{{if 1}}{{define "x"}}{{end}}{{end}}', D, False, 'err', 'template: :1: unexpected <define> in command'),
    ('{{json .}}',
     D, False, 'out',
     '{"A":"a","E":"","EL":[],"EM":{},"F":1.5,"L":["x","y"],"Labels":{"com.x":"1","z":"<&>"},"M":{"a":1,"b":2'
     ',"c":3},"N":3,"Nil":null,"S":{"X":"sx","Y":{"Z":"deep"}},"T":true,"Z":0}'),
    ('{{json .Labels}} {{json .A}} {{json .Nil}} {{json .Missing}} {{json .L}} {{json .F}}',
     D, False, 'out',
     '{"com.x":"1","z":"<&>"} "a" null null ["x","y"] 1.5'),
    ('{{split "a,b,c" ","}} {{index (split "a:b" ":") 1}} {{len (split "" ",")}}', D, False, 'out', '[a b c] b 1'),
    ('{{lower "ABC"}} {{upper .A}} {{title "hello wORLD-foo bar_baz 1st"}}',
     D, False, 'out',
     'abc A Hello WORLD-Foo Bar_baz 1st'),
    ('{{lower 3}}', D, False, 'err', 'template: :1:8: executing "" at <3>: expected string; found 3'),
    ('{{lower .N}}',
     D, False, 'err',
     'template: :1:8: executing "" at <.N>: wrong type for value; expected string; got float64'),
    ('{{lower .Missing}}',
     D, False, 'err',
     'template: :1:8: executing "" at <.Missing>: invalid value; expected string'),
    ('{{lower}}',
     D, False, 'err',
     'template: :1:2: executing "" at <lower>: wrong number of args for lower: want 1 got 0'),
    ('{{lower nil}}', D, False, 'err', 'template: :1:8: executing "" at <nil>: cannot assign nil to string'),
    ('{{lower true}}', D, False, 'err', 'template: :1:8: executing "" at <true>: expected string; found true'),
    ('{{pad .A 2 3}}|{{pad "" 2 3}}|{{pad .A 1.0 0}}', D, False, 'out', '  a   || a'),
    ('{{pad .A "1" 0}}', D, False, 'err', 'template: :1:9: executing "" at <"1">: expected integer; found "1"'),
    ('{{truncate "abcdef" 3}} {{truncate "ab" 3}} {{truncate "abc" 3}}', D, False, 'out', 'abc ab abc'),
    ('{{.A | upper | printf "%s!"}}', D, False, 'out', 'A!'),
    ('{{.L | join "-"}}',
     D, False, 'err',
     'template: :1:12: executing "" at <"-">: can\'t handle "-" for arg of type []string'),
    ('{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}', D, False, 'out', 'com.x=1;z=<&>;'),
    ('{{json .Labels}}', {'Labels': {'a': '<&>\u2028é\x01'}}, False, 'out', '{"a":"<&>\\u2028é\\u0001"}'),
    ('{{.Missing}}', D, True, 'err', 'template: :1:2: executing "" at <.Missing>: map has no entry for key "Missing"'),
    ('{{.S.Missing}}',
     D, True, 'err',
     'template: :1:4: executing "" at <.S.Missing>: map has no entry for key "Missing"'),
    ('{{.Missing.X}}',
     D, True, 'err',
     'template: :1:10: executing "" at <.Missing.X>: map has no entry for key "Missing"'),
    ('{{index .M "zz"}}', D, True, 'out', '<no value>'),
    ('{{(index .L 0).Foo}}',
     {'L': [{'B': 1.0}]}, True, 'err',
     'template: :1:12: executing "" at <0>: map has no entry for key "Foo"'),
    ('{{.M.zz}}', D, True, 'err', 'template: :1:4: executing "" at <.M.zz>: map has no entry for key "zz"'),
    ('é{{.Nope.X}}', D2, False, 'out', 'é<no value>'),
    ('line1\n  x {{.A.B}}',
     D2, False, 'err',
     'template: :2:8: executing "" at <.A.B>: can\'t evaluate field B in type interface {}'),
    ('l1\nl2\n{{.A\n}}', D2, False, 'out', 'l1\nl2\na'),
    ('l1\n{{if .A}}\n{{end}}\n{{end}}', D2, False, 'err', 'template: :4: unexpected {{end}}'),
    ('{{if .A -}}\n  yes\n{{- else -}}\n no\n{{- end}}', D2, False, 'out', 'yes'),
    ('{{range .L -}}\n  - {{.}}\n{{end}}', D2, False, 'out', '- x\n- y\n'),
    ('{{define "T"}}{{.X}}{{end}}{{template "T" .}}', D2, False, 'out', '<no value>'),
    ('{{define "T"}}{{.A.X}}{{end}}{{template "T" .}}',
     D2, False, 'err',
     'template: :1:18: executing "T" at <.A.X>: can\'t evaluate field X in type interface {}'),
    ('{{ .A }}{{  .N  }}', D2, False, 'out', 'a2'),
    ('{{.A\n}}', D2, False, 'out', 'a'),
    ('{{\n.A}}', D2, False, 'out', 'a'),
    ('{{printf "%s"\n .A}}', D2, False, 'out', 'a'),
    ('{{$x :=\n .A}}{{$x}}', D2, False, 'out', 'a'),
    ('{{ $x := .A }}{{ $x }}', D2, False, 'out', 'a'),
    ('{{range $i,$e := .L}}{{$i}}{{end}}', D2, False, 'out', '01'),
    ('{{range $i , $e := .L}}{{$i}}{{end}}', D2, False, 'out', '01'),
    ('{{range $i, 3 := .L}}{{end}}', D2, False, 'err', 'template: :1: range can only initialize variables'),
    ('{{range $i, $e, $f := .L}}{{end}}', D2, False, 'err', 'template: :1: too many declarations in range'),
    ('{{with $x := .M}}{{$x.k}}{{end}}', D2, False, 'out', 'v'),
    ('{{if $x := .N}}{{$x}}{{end}}', D2, False, 'out', '2'),
    ('{{.M.k}} {{.M.nope}}', D2, False, 'out', 'v <no value>'),
    ('{{$.A}}', D2, False, 'out', 'a'),
    ('{{$.Nope.X}}', D2, False, 'out', '<no value>'),
    ('{{(.A)}}', D2, False, 'out', 'a'),
    ('{{(1)}}', D2, False, 'out', '1'),
    ('{{(nil).X}}', D2, False, 'err', 'template: :1:3: executing "" at <nil>: nil is not a command'),
    ('{{(.M).k}}', D2, False, 'out', 'v'),
    ('{{(printf "a") 1}}',
     D2, False, 'err',
     'template: :1:2: executing "" at <(printf "a") 1>: can\'t give argument to non-function printf "a"'),
    ('{{print (index .L 0) (len .L)}}', D2, False, 'out', 'x2'),
    ('{{index .L 0 1}}',
     D2, False, 'err',
     'template: :1:2: executing "" at <index .L 0 1>: error calling index: reflect: string index out of range'),
    ('{{index .M}}', D2, False, 'out', 'map[k:v]'),
    ('{{index .L}}', D2, False, 'out', '[x y]'),
    ('{{index .L -1}}',
     D2, False, 'err',
     'template: :1:2: executing "" at <index .L -1>: error calling index: index out of range: -1'),
    ('{{index .L "a"}}',
     D2, False, 'err',
     'template: :1:2: executing "" at <index .L "a">: error calling index: cannot index slice/array with type string'),
    ('{{len .M}}', D2, False, 'out', '1'),
    ('{{"a" | len}}', D2, False, 'out', '1'),
    ('{{.L | len}}', D2, False, 'out', '2'),
    ('{{.L | index 0}}',
     D2, False, 'err',
     'template: :1:7: executing "" at <index 0>: error calling index: can\'t index item of type int'),
    ('{{0 | index .L}}', D2, False, 'out', 'x'),
    ('{{template "x" .A}}',
     D2, False, 'err',
     'template: :1:11: executing "" at <{{template "x" .A}}>: template "x" not defined'),
    ('{{define "x"}}a{{else}}b{{end}}', D2, False, 'err', 'template: :1: unexpected {{else}} in define clause'),
    ('{{define x}}{{end}}', D2, False, 'err', 'template: :1: unexpected "x" in define clause'),
    ('{{template x}}', D2, False, 'err', 'template: :1: unexpected "x" in template clause'),
    ('{{block "B"}}x{{end}}', D2, False, 'err', 'template: :1: missing value for block clause'),
    ('{{range .L}}{{break 1}}{{end}}', D2, False, 'err', 'template: :1: unexpected "1" in {{break}}'),
    ('{{continue}}', D2, False, 'err', 'template: :1: {{continue}} outside {{range}}'),
    ('{{if .A}}{{range .L}}{{if eq . "y"}}{{break}}{{end}}{{.}}{{end}}{{end}}', D2, False, 'out', 'x'),
    ('{{.A | printf "%s" | .B}}',
     D2, False, 'err',
     'template: :1:21: executing "" at <.B>: B is not a method but has arguments'),
    ('{{.A | .M.k}}', D2, False, 'err', 'template: :1:9: executing "" at <.M.k>: k is not a method but has arguments'),
    ('{{1 | printf}}',
     D2, False, 'err',
     'template: :1:6: executing "" at <printf>: wrong type for value; expected string; got int'),
    ('{{printf "%s %s" .A}}', D2, False, 'out', 'a %!s(MISSING)'),
    ('{{.A}}{{/* x */}}{{.A}}', D2, False, 'out', 'aa'),
    ('{{/*x*/}}', D2, False, 'out', ''),
    ('{{/* x */ -}}  y', D2, False, 'out', 'y'),
    ('{{- /* x */}}', D2, False, 'out', ''),
    ('a {{- /* x */ -}} b', D2, False, 'out', 'ab'),
    ('{{true.X}}', D2, False, 'err', 'template: :1: unexpected . after term "true"'),
    ('{{.A | not | not}}', D2, False, 'out', 'true'),
    ('{{not}}', D2, False, 'err', 'template: :1:2: executing "" at <not>: wrong number of args for not: want 1 got 0'),
    ('{{or}}',
     D2, False, 'err',
     'template: :1:2: executing "" at <or>: wrong number of args for or: want at least 1 got 0'),
    ('{{and 1 2 | printf "%v"}}', D2, False, 'out', '2'),
]


def render(template: str, data, missing_error: bool = False) -> tuple[str, str]:
    try:
        return "out", gt.parse(template).execute(data, missing_error=missing_error)
    except gt.TemplateError as e:
        return "err", str(e)


@pytest.mark.parametrize(("template", "data", "missing_error", "kind", "expected"), GO_CASES,
                         ids=[c[0][:40] for c in GO_CASES])
def test_as_go_evaluates_it(template, data, missing_error, kind, expected):
    assert render(template, data, missing_error) == (kind, expected)


# -- docker's typed values, where they differ from raw JSON ------------------------------------------------

def test_a_list_of_strings_is_a_go_string_slice():
    data = {"Cmd": ["sh", "-c", "x"], "Mixed": ["a", 1]}
    assert render('{{join .Cmd " "}} {{printf "%T" .Cmd}}', data) == ("out", "sh -c x []string")
    assert render('{{join .Mixed ","}}', data) == (
        "err", 'template: :1:7: executing "" at <.Mixed>: wrong type for value; expected []string; got []interface {}')


def test_index_of_a_missing_label_is_the_empty_string():
    labels = {"Labels": {"a": "1"}}
    assert render('[{{index .Labels "b"}}] [{{.Labels.b}}]', labels) == ("out", "[] [<no value>]")


def test_else_with_chains_as_in_go_1_23():
    assert render("{{with .A}}a{{else with .B}}b={{.}}{{else}}none{{end}}", {"A": "", "B": "x"}) == ("out", "b=x")
    assert render("{{if .A}}{{else with .B}}{{end}}", {}) == ("err", "template: :1: unexpected <with> in input")


def test_structs_methods_and_their_errors():
    ctx = gt.Struct("*formatter.ContainerContext", {
        "Names": gt.Method(lambda: "web"), "Label": gt.Method({"x.y": "1"}.get, ("string", "string")),
        "Health": None, "Nested": gt.Struct("types.State", {"Pid": 7, "Status": "running"})})
    assert render('{{.Names}} {{.Label "x.y" "-"}} {{.Label "z" "-"}} {{.Health}} {{.Nested}} {{.Nested.Pid}}',
                  ctx) == ("out", "web 1 - <nil> {7 running} 7")
    assert render("{{.Nope}}", ctx) == ("err", 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field'
                                               " Nope in type *formatter.ContainerContext")
    assert render("{{.Label}}", ctx)[1].endswith("wrong number of args for Label: want 2 got 0")
    assert render("{{.Names 1}}", ctx)[1].endswith("wrong number of args for Names: want 0 got 1")
    raw = gt.Struct("struct", {"Name": "/web"}, missing="map has no entry for key {quoted}")
    assert render("{{.Name.X}} ", raw)[1].endswith("can't evaluate field X in type interface {}")
    assert render("{{.Nope}}", raw)[1].endswith('map has no entry for key "Nope"')


def test_json_as_docker_prints_it():
    # A formatter context marshals as a map of its method values (sorted, HTML-escaped by json.Marshal);
    # anything else goes through docker's encoder without HTML escaping, struct fields in order.
    ctx = gt.Struct("ctx", {"Z": gt.Method(lambda: "<&>"), "A": "1", "Label": gt.Method(str, ("string",))},
                    context=True)
    assert render("{{json .}}", ctx) == ("out", '{"A":"1","Z":"\\u003c\\u0026\\u003e"}')
    assert render("{{json .Z}}", ctx) == ("out", '"<&>"')
    doc = gt.Struct("struct", {"b": [1, 2.5, None], "a": {"y": "\u2028\x01é", "x": True}})
    assert render("{{json .}}", doc) == ("out", '{"b":[1,2.5,null],"a":{"x":true,"y":"\\u2028\\u0001é"}}')


def test_header_functions_keep_column_names():
    header = {"Names": "NAMES", "Labels": "LABELS"}
    template = gt.parse("{{upper .Names}}\t{{json .Labels}}\t{{truncate .Names 2}}\t{{pad .Names 1 1}}")
    assert template.execute(header, funcs=gt.HEADER_FUNCS) == "NAMES\tLABELS\tNAMES\t NAMES "


# -- the formatting helpers ----------------------------------------------------------------------------------

def test_tabwrite_is_gos_elastic_tabstops():
    # The example of Go's text/tabwriter documentation, with padding 1 and no minimum width.
    assert tabwrite("aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n", 0, 1) == (
        "aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n")
    # docker's tables: NewWriter(out, 10, 1, 3, ' ', 0); the last cell of a line is not padded.
    assert tabwrite("NETWORK ID\tNAME\tDRIVER\n0123456789ab\tbridge\tbridge\n") == (
        "NETWORK ID     NAME      DRIVER\n0123456789ab   bridge    bridge\n")
    assert tabwrite("表\tx\n") == "表        x\n"  # a wide character takes two columns


@pytest.mark.parametrize(("size", "text"), [(0, "0B"), (1023, "1023B"), (1536 * 1024, "1.5MiB"),
                                            (3.43 * 1024 * 1024, "3.43MiB"), (8233254912, "7.668GiB")])
def test_bytes_size_is_go_units_bytes_size(size, text):
    assert bytes_size(size) == text


def test_ellipsis_and_quote_as_docker_ps_shows_a_command():
    assert ellipsis("sleep 300", 20) == "sleep 300"
    assert ellipsis("sh -c while true; do sleep 1; done", 20) == "sh -c while true; d…"
    assert ellipsis("表表表表表表表表表表表", 20) == "表表表表表表表表表…"
    assert go_quote('sh -c "x"\t\x01é') == '"sh -c \\"x\\"\\t\\x01é"'
