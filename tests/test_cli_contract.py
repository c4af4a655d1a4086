"""docker's error contract, which scripts depend on: exit statuses, the form of usage errors, and the small rules
of `run`, `rm` and `-u` that docker users take for granted."""

from __future__ import annotations

import imagebuilder
import pytest
from conftest import ok, one_line_error
from registry import push


def usage_error(result) -> list[str]:
    """A usage error's two lines, docker's form: the problem, then where to read the help."""
    assert "Traceback" not in result.stderr and "usage:" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    return lines


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--x", "busybox"], "unknown flag: --x"),
    (["run", "--priv", "busybox", "true"], "unknown flag: --priv"),  # no abbreviations: docker refuses them
    (["run", "-z", "busybox"], "unknown shorthand flag: 'z' in -z"),
    (["ps", "--bogus=1"], "unknown flag: --bogus"),
    (["run", "-m"], "flag needs an argument: --memory"),
    (["run", "--pids-limit", "lots", "busybox"], 'invalid argument "lots" for "--pids-limit" flag'),
])
def test_flag_errors_are_125_in_dockers_form(tuiker, argv, message):
    result = tuiker(*argv)
    assert result.returncode == 125, result
    first, second = usage_error(result)
    assert first.startswith(message), first
    assert second == f"See 'tuiker {argv[0]} --help'."


@pytest.mark.parametrize(("argv", "message"), [
    (["run"], '"tuiker run" requires at least 1 argument.'),
    (["tag", "a"], '"tuiker tag" requires at least 2 arguments.'),
    (["ps", "extra"], '"tuiker ps" accepts no arguments.'),
    (["frobnicate"], "tuiker: 'frobnicate' is not a tuiker command."),
])
def test_argument_count_and_unknown_commands_are_1(tuiker, argv, message):
    result = tuiker(*argv)
    assert result.returncode == 1, result
    assert usage_error(result)[0] == message


def test_a_bad_value_found_by_the_engine_is_125(tuiker, image):
    for argv in (["run", "-m", "lots", image, "true"], ["run", "--restart", "sometimes", image, "true"],
                 ["create", "--cpus", "many", image]):
        result = tuiker(*argv)
        assert result.returncode == 125, result
        assert one_line_error(result).startswith("Error: invalid")


def test_flags_still_combine_and_take_values(tuiker, image):
    assert ok(tuiker("run", "--rm", "-i", "-eX=1", image, "sh", "-c", "echo $X")).strip() == "1"
    assert ok(tuiker("run", "--rm", "--env=Y=2", image, "sh", "-c", "echo $Y")).strip() == "2"
    # After the image, everything is the container's command, flags included.
    assert ok(tuiker("run", "--rm", image, "echo", "--x", "-z")).strip() == "--x -z"


def test_rm_f_of_a_missing_container_is_no_error(tuiker):
    result = tuiker("rm", "-f", "no-such-container")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result
    result = tuiker("rm", "no-such-container")
    assert result.returncode == 1
    assert one_line_error(result) == "Error: No such container: no-such-container"


def test_run_of_a_missing_image_says_so_before_pulling(tuiker, busybox_image):
    ref, _ = busybox_image
    result = tuiker("run", "--rm", ref, "echo", "pulled-and-ran")
    assert result.returncode == 0, result
    assert result.stderr.splitlines()[0] == f"Unable to find image '{ref}' locally", result.stderr
    assert result.stdout.strip() == "pulled-and-ran"
    again = tuiker("run", "--rm", ref, "true")
    assert "Unable to find image" not in again.stderr


@pytest.fixture(scope="module")
def bare_image(registry) -> str:
    """busybox alone: no /etc/passwd, no /etc/group, with an ENTRYPOINT (as many minimal images have)."""
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    layer = imagebuilder.make_tar([imagebuilder.Dir("bin"), imagebuilder.File("bin/busybox", busybox, 0o755),
                                   imagebuilder.Symlink("bin/sh", "busybox"), imagebuilder.Symlink("bin/id", "busybox"),
                                   imagebuilder.Symlink("bin/echo", "busybox"), imagebuilder.Dir("tmp", 0o1777)])
    image = imagebuilder.build_image([layer], entrypoint=["/bin/echo", "from-entrypoint"], cmd=["default-cmd"])
    push(registry, "test/bare", "latest", image)
    return f"{registry.host}/test/bare:latest"


def test_an_image_without_passwd_runs_as_root(tuiker, bare_image):
    assert ok(tuiker("run", "--rm", bare_image)).strip() == "from-entrypoint default-cmd"
    assert ok(tuiker("run", "--rm", "--entrypoint", "id", bare_image, "-u")).strip() == "0"
    result = tuiker("run", "--rm", "-u", "app", bare_image)
    assert result.returncode == 126
    assert "unable to find user app" in one_line_error(result)


def test_an_empty_entrypoint_clears_the_images(tuiker, bare_image):
    assert ok(tuiker("run", "--rm", "--entrypoint", "", bare_image, "/bin/echo", "own", "command")).strip() == \
        "own command"
    # As docker: an --entrypoint drops the image's Cmd too, and then there is nothing to run.
    result = tuiker("run", "--rm", "--entrypoint", "", bare_image)
    assert result.returncode == 125
    assert "no command specified" in one_line_error(result)


@pytest.fixture(scope="module")
def groups_image(registry, busybox_image) -> str:
    _, busybox = busybox_image
    group = imagebuilder.GROUP + b"audio:x:29:app\nstaff:x:50:root,app\n"
    layer = imagebuilder.make_tar([imagebuilder.File("etc/group", group)])
    image = imagebuilder.build_image([busybox.layers[0], layer])
    push(registry, "test/groups", "latest", image)
    return f"{registry.host}/test/groups:latest"


def test_u_adds_the_users_supplementary_groups(tuiker, groups_image):
    ok(tuiker("pull", "-q", groups_image))
    assert ok(tuiker("run", "--rm", "-u", "app", groups_image, "id", "-G")).split() == ["1000", "29", "50"]
    assert ok(tuiker("run", "--rm", "-u", "1000", groups_image, "id", "-G")).split() == ["1000", "29", "50"]
    # An explicit group replaces them, as runc does.
    assert ok(tuiker("run", "--rm", "-u", "app:staff", groups_image, "id", "-G")).split() == ["50"]
    assert ok(tuiker("run", "--rm", groups_image, "id", "-G")).split() == ["0", "50"]


def test_an_error_is_one_line_whatever_the_input_holds(tuiker):
    result = tuiker("rm", "bad\nname\x1b[2J")
    assert result.returncode == 1
    assert one_line_error(result) == "Error: No such container: bad\\nname\\x1b[2J"
