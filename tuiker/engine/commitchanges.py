"""`commit -c` and `import -c`: Dockerfile instructions applied to an image config, as moby's BuildFromConfig.

The changes are joined by newlines and parsed as a Dockerfile by the build's parser (build/dockerfile.py); only
the instructions docker allows there (validCommitCommands) pass, any other is docker's "run is not a valid
change command". Every one is checked before any is applied; words are expanded (build/shell.py) against the
environment the changes themselves set, as docker's dispatch does with the commit's own (empty) config.
"""

from __future__ import annotations

import posixpath

from tuiker.base.errors import TuikerError

VALID = ("cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal", "user", "volume",
         "workdir")


def apply_changes(config: dict, changes: list[str]) -> dict:
    """A copy of the image config `config` (docker's container.Config fields) with `changes` applied."""
    from tuiker.engine.build import dockerfile
    from tuiker.engine.build.shell import ShellError, expand_word, expand_words

    state = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
             for k, v in config.items()}
    if not changes:
        return state
    nodes, directives, _warnings = dockerfile.parse_instructions("\n".join(changes))
    for node in nodes:
        if node.cmd not in VALID:
            raise TuikerError(f"{node.cmd} is not a valid change command")
    for node in nodes:
        dockerfile._check(node)  # docker's instructions.ParseCommand: its messages, without a line number
    escape = directives.get("escape", "\\")
    cmd_set = False
    try:
        for node in nodes:
            env = dict(item.partition("=")[::2] for item in state.get("Env") or [])

            def expand(word: str, env: dict[str, str] = env) -> str:
                return expand_word(word, env, escape)

            if node.cmd in ("cmd", "entrypoint"):
                # moby's resolveCmdLine: nothing written is an empty command, not `sh -c` with none
                command = list(node.args) if node.json or not node.args else ["/bin/sh", "-c", *node.args]
                if node.cmd == "cmd":
                    state["Cmd"], cmd_set = command, True
                else:
                    state["Entrypoint"] = command
                    if not cmd_set:
                        state["Cmd"] = None  # docker: an ENTRYPOINT drops a CMD these changes did not set
            elif node.cmd == "env":
                pairs = [(expand(key), expand(value)) for key, value in node.key_values()]  # all with the env before
                env.update(pairs)
                state["Env"] = [f"{k}={v}" for k, v in env.items()]
            elif node.cmd == "label":
                state["Labels"] = {**(state.get("Labels") or {}),
                                   **{expand(k): expand(v) for k, v in node.key_values()}}
            elif node.cmd == "expose":
                from tuiker.net.ports import parse_expose

                ports = dict(state.get("ExposedPorts") or {})
                for word in node.args:
                    for port in expand_words(word, env, escape):
                        ports.update({key: {} for key in parse_expose(port)})
                state["ExposedPorts"] = ports
            elif node.cmd == "volume":
                volumes = dict(state.get("Volumes") or {})
                for word in node.args:
                    path = expand(word)
                    if not path.strip():
                        raise TuikerError("VOLUME specified can not be an empty string")
                    volumes[path] = {}
                state["Volumes"] = volumes
            elif node.cmd == "user":
                state["User"] = expand(node.args[0])
            elif node.cmd == "workdir":
                path = expand(node.args[0])
                state["WorkingDir"] = posixpath.normpath(posixpath.join("/", state.get("WorkingDir") or "/", path))
            elif node.cmd == "stopsignal":
                from tuiker.base.signals import parse_signal

                signal = expand(node.args[0])
                try:
                    parse_signal(signal)
                except ValueError as e:
                    raise TuikerError(str(e)) from None
                state["StopSignal"] = signal
            elif node.cmd == "onbuild":
                state["OnBuild"] = [*(state.get("OnBuild") or []), node.expression]
            else:  # healthcheck; docker's HealthConfig leaves zero durations and retries out
                state["Healthcheck"] = {k: v for k, v in dockerfile.health_config(node).items() if v}
    except ShellError as e:
        raise TuikerError(str(e)) from None
    return state
