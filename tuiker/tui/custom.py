"""Custom commands from the config file (lazydocker's customCommands), on the menu of `c`:

    {"customCommands": {
        "containers": [{"name": "bash", "command": "exec -it {{ .Container.ID }} bash", "attach": true},
                       {"name": "tar /etc", "command": "cp {{ .Container.ID }}:/etc /tmp/etc-{{ .Container.Name }}"}],
        "images": [{"name": "history", "command": "tuiker history {{ .Image.Name }} > /tmp/h", "shell": true}]}}

`command` is a tuiker command line (`docker` over a Docker engine), split into words as a shell would *before* the
fields are put in, so each value stays one word and is never read by a shell. With `"shell": true` it is a
`sh -c` line, and each value is put in quoted (shlex.quote). Fields: `{{ .Container.ID }}`, `.Container.Name`,
`.Container.Image`; on images `{{ .Image.ID }}`, `.Image.Name`. `"attach": true` gives it the whole terminal
(the app is suspended until it ends); else it runs in the background and its exit status and last line are shown."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from tuiker.engine import TuikerError, config_file, load_config

FIELD = re.compile(r"\{\{\s*\.(\w+)\.(\w+)\s*\}\}")
PANELS = {"containers": "Container", "images": "Image"}
FIELDS = {"Container": ("ID", "Name", "Image"), "Image": ("ID", "Name")}


@dataclass(frozen=True)
class CustomCommand:
    name: str
    command: str
    attach: bool = False
    shell: bool = False

    def argv(self, kind: str, values: dict[str, str], tuiker: list[str]) -> list[str]:
        """The command line to run: `tuiker` (the engine's CLI command) with the words of `command`, or
        `sh -c LINE`; each `{{ .KIND.FIELD }}` replaced by values[FIELD] (one word, or quoted for the shell)."""

        def put(text: str, quote: bool) -> str:
            def field(m: re.Match) -> str:
                value = values[m.group(2)]
                return shlex.quote(value) if quote else value

            return FIELD.sub(field, text)

        if self.shell:
            return ["/bin/sh", "-c", put(self.command, True)]
        compact = FIELD.sub(lambda m: f"{{{{.{m.group(1)}.{m.group(2)}}}}}", self.command)  # no spaces to split at
        return [*tuiker, *(put(word, False) for word in shlex.split(compact))]


def custom_commands(panel: str) -> list[CustomCommand]:
    """The panel's ("containers" or "images") commands from the config file; TuikerError (one line) for a
    malformed one, naming it."""
    section = load_config().get("customCommands", {})
    if not isinstance(section, dict):
        raise TuikerError(f'"customCommands" in {config_file()} must be an object: {{"containers": [...]}}')
    entries = section.get(panel, [])
    kind = PANELS[panel]
    found = []
    for i, entry in enumerate(entries if isinstance(entries, list) else [None]):
        where = f'customCommands.{panel}[{i}] in {config_file()}'
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                and isinstance(entry.get("command"), str)):
            raise TuikerError(f'{where}: needs "name" and "command" strings')
        for m in FIELD.finditer(entry["command"]):
            if m.group(1) != kind or m.group(2) not in FIELDS[kind]:
                allowed = ", ".join(f"{{{{ .{kind}.{f} }}}}" for f in FIELDS[kind])
                raise TuikerError(f"{where}: unknown field {m.group(0)} (there are {allowed})")
        try:
            shlex.split(entry["command"])
        except ValueError as e:
            raise TuikerError(f"{where}: {e}") from None
        found.append(CustomCommand(entry["name"], entry["command"], bool(entry.get("attach")),
                                   bool(entry.get("shell"))))
    return found
