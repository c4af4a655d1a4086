"""The engine's read side, which `tuiker logs|stats|top|exec` and the TUI's tabs both go through: the json-file
log (tail, since, the rotated file, torn lines, follow), stats samples, the process table, and the Session of an
exec'd process. Log files are real files written as the monitor writes them; the rest runs real containers."""

from __future__ import annotations

import json
import os
import select
import threading
import time
from pathlib import Path

from conftest import read_stream, wait_for

from tuiker.engine import Engine, RunOptions, TuikerError
from tuiker.engine.logs import LogReader

# -- logs, on files -----------------------------------------------------------------------------------


def _line(text: str, stream: str = "stdout", stamp: str = "2026-01-01T00:00:00.000000000Z") -> bytes:
    return json.dumps({"log": text + "\n", "stream": stream, "time": stamp}).encode() + b"\n"


def _texts(records) -> list[str]:
    return [r.text.rstrip("\n") for r in records]


def test_tail_reads_back_across_the_rotated_file(tmp_path: Path):
    log = tmp_path / "log.json"
    (tmp_path / "log.json.1").write_bytes(b"".join(_line(f"old {i}") for i in range(5)))
    log.write_bytes(b"".join(_line(f"new {i}") for i in range(3)))
    assert _texts(LogReader(log, tail=4).read()) == ["old 4", "new 0", "new 1", "new 2"]
    assert _texts(LogReader(log, tail=2).read()) == ["new 1", "new 2"]
    assert _texts(LogReader(log, tail=0).read()) == []
    assert len(LogReader(log).read()) == 8  # no tail: both files, the older first


def test_tail_of_a_long_log_reads_only_its_end(tmp_path: Path):
    log = tmp_path / "log.json"
    log.write_bytes(b"".join(_line(f"line {i} " + "x" * 200) for i in range(5000)))  # ~1.2 MB, many chunks back
    assert [t.split()[1] for t in _texts(LogReader(log, tail=3).read())] == ["4997", "4998", "4999"]


def test_torn_and_foreign_lines_are_skipped(tmp_path: Path):
    """A crash or a full disk can cut a line; a hand-edited file can hold anything: both are skipped."""
    log = tmp_path / "log.json"
    log.write_bytes(_line("first") + b'{"log": "torn\n' + b"[1, 2]\n" + b'{"log": 5}\n' + _line("last", "stderr"))
    records = LogReader(log).read()
    assert _texts(records) == ["first", "last"] and records[1].stream == "stderr"


def test_since_drops_older_records(tmp_path: Path):
    log = tmp_path / "log.json"
    log.write_bytes(_line("old", stamp="2020-01-01T00:00:00Z") + _line("new", stamp="2030-01-01T00:00:00.5Z"))
    assert _texts(LogReader(log, since=time.time()).read()) == ["new"]


def test_later_reads_give_what_was_appended_across_a_rotation(tmp_path: Path):
    """As the monitor rotates: log.json renamed to log.json.1, a new log.json begun. What was appended to the old
    file after the last read is not lost (the old reader skipped it), and a line being written waits whole."""
    log = tmp_path / "log.json"
    log.write_bytes(_line("a"))
    reader = LogReader(log, tail=10)
    assert _texts(reader.read()) == ["a"]
    assert reader.read() == []
    with open(log, "ab") as f:
        f.write(_line("b") + _line("c")[:10])  # c is half written
    assert _texts(reader.read()) == ["b"]
    with open(log, "ab") as f:
        f.write(_line("c")[10:] + _line("d"))
    os.replace(log, tmp_path / "log.json.1")
    log.write_bytes(_line("e"))
    assert _texts(reader.read()) == ["c", "d", "e"]


def test_a_burst_read_for_a_view_gives_its_newest_records_and_resumes_after_them(tmp_path: Path):
    """read(newest=N) (the TUI's Logs tab keeps N): of a burst, only the newest N, read backwards from its end,
    never a line from before the last read, and a half-written last line waits whole for the next read."""
    log = tmp_path / "log.json"
    log.write_bytes(_line("first"))
    reader = LogReader(log, tail=10)
    assert _texts(reader.read(newest=5)) == ["first"]
    with open(log, "ab") as f:
        f.write(b"".join(_line(f"{i} " + "x" * 200) for i in range(20000)) + _line("half")[:7])  # ~4.6 MB
    assert [t.split()[0] for t in _texts(reader.read(newest=3))] == ["19997", "19998", "19999"]
    with open(log, "ab") as f:
        f.write(_line("half")[7:] + _line("last"))
    assert _texts(reader.read(newest=3)) == ["half", "last"]
    with open(log, "ab") as f:
        f.write(_line("one"))
    assert _texts(reader.read(newest=3)) == ["one"]  # a short burst: from where the last read ended


# -- logs, stats, top and exec of real containers -------------------------------------------------------


def _run(engine: Engine, image: str, *cmd: str, **opts):
    c = engine.containers.create(RunOptions(image=image, command=list(cmd), **opts))
    engine.containers.start(c.id)
    return c.reload()


def test_logs_follow_yields_as_written_and_ends_when_the_container_stops(engine_root, image):
    engine = Engine(engine_root)
    c = _run(engine, image, "sh", "-c", "echo one; echo two >&2; while [ ! -e /go ]; do sleep 0.05; done; echo three")
    seen = []

    def follow():
        for record in engine.containers.logs(c.id, follow=True):
            seen.append(record)

    reader = threading.Thread(target=follow)
    reader.start()
    wait_for(lambda: len(seen) == 2, 10, "the first two lines")
    assert reader.is_alive()  # it waits for more while the container runs
    assert read_stream(engine.containers.exec(c.id, ["touch", "/go"]))[0] == 0
    reader.join(30)
    assert not reader.is_alive()
    assert [(r.stream, r.text) for r in seen] == [("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "three\n")]
    assert _texts(engine.containers.logs(c.id, tail=1)) == ["three"]
    engine.containers.remove(c.id)


def test_logs_follow_reads_the_last_lines_of_a_container_removed_as_it_exits(engine_root, image):
    """docker-py's run(remove=True) follows the logs, waits, removes, then reads the stream: a container removed
    before the follower's next look (its log deleted with it) still gives all it wrote."""
    engine = Engine(engine_root)
    c = _run(engine, image, "sh", "-c", "echo one; while [ ! -e /go ]; do sleep 0.05; done; echo last")
    follow = engine.containers.logs(c.id, follow=True)
    wait_for(lambda: (c.dir / "log.json").exists() and (c.dir / "log.json").stat().st_size, 10, "the first line")
    assert next(follow).text == "one\n"  # the follower is now between two looks
    assert read_stream(engine.containers.exec(c.id, ["touch", "/go"]))[0] == 0
    assert engine.containers.wait(c.id) == 0
    engine.containers.remove(c.id)
    assert [r.text for r in follow] == ["last\n"]


def test_stats_cpu_is_over_the_life_first_then_between_two_samples(engine_root, image):
    """The first sample averages the container's life (so `stats --no-stream` needs no second reading); later
    ones cover the time since the previous sample: a container that was busy and now sleeps shows its past
    use first, then nothing."""
    engine = Engine(engine_root)
    c = _run(engine, image, "sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; touch /done; sleep 60")
    wait_for(lambda: (c.dir / "upper" / "done").exists(), 60, "the busy part to end")
    sampler = engine.containers.stats(c.id)
    first = sampler.sample()
    assert first.cpu_percent > 0 and first.pids >= 1 and 0 < first.memory < first.memory_limit
    time.sleep(0.3)
    second = sampler.sample()
    assert second.cpu_percent < first.cpu_percent and second.cpu_percent < 5  # sleep uses (almost) none
    engine.containers.stop(c.id, timeout=1)
    sampler.container = c.reload()
    assert sampler.sample() is None
    engine.containers.remove(c.id)


def test_stats_show_cpu_throttling_packets_and_pressure_where_the_kernel_has_it(engine_root, image):
    """Why it is slow, not only that it is busy: a busy loop under --cpus 0.1 runs out of its quota in most
    periods; pings from the host count as packets both ways; the PSI figures are there on cgroup v2 (the
    memory one too, under -m) and None on v1, which has no pressure files."""
    import subprocess

    from tuiker.runtime import cgroups

    engine = Engine(engine_root)
    c = _run(engine, image, "sh", "-c", "while :; do :; done", cpus=0.1, memory=32 * 2**20)
    address = next(iter(c.state["NetworkSettings"]["Networks"].values()))["IPAddress"]
    ping = subprocess.run(["busybox", "ping", "-c", "3", "-i", "0.2", "-W", "2", address], capture_output=True,
                          text=True, timeout=20)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    sampler = engine.containers.stats(c.id)
    first = wait_for(lambda: (s := sampler.sample()) and s.cpu_throttled_periods > 2 and s, 10, "throttled periods")
    assert first.cpu_periods >= first.cpu_throttled_periods and first.cpu_throttled_ns > 0
    assert first.net_rx_packets >= 3 and first.net_tx_packets >= 3, (first.net_rx_packets, first.net_tx_packets)
    assert first.net_rx_errors == first.net_tx_errors == 0
    time.sleep(0.5)
    second = sampler.sample()
    # over the last half second, not the life: a loop with 10 % of a core is throttled in most periods
    assert second.cpu_throttled_percent > 50 and second.cpu_throttled_ns > first.cpu_throttled_ns, second
    if cgroups.host_version() == 1:
        assert second.psi_cpu is second.psi_memory is second.psi_io is None
    else:
        assert second.psi_cpu.some_total_us > 0 and second.psi_memory is not None and second.psi_io is not None
    engine.containers.remove(c.id, force=True)


def test_top_lists_the_containers_processes_and_refuses_a_stopped_one(engine_root, image):
    engine = Engine(engine_root)
    c = _run(engine, image, "sh", "-c", "sleep 61 & exec sleep 62")
    table = engine.containers.top(c)
    # until the shell has exec'd: before that its two processes are `sh -c ...` and `sleep 61`
    rows = wait_for(lambda: (lambda rows: rows if sorted(r.command for r in rows) == ["sleep 61", "sleep 62"]
                             else None)(table.rows()), 10, "the two sleeps")
    assert all(r.user == "root" and r.memory > 0 and r.started > 0 for r in rows)
    engine.containers.stop(c.id, timeout=1)
    assert table.rows() == []
    try:
        engine.containers.top(c.id)
        raise AssertionError("top of a stopped container")
    except TuikerError as e:
        assert "is not running" in str(e)
    engine.containers.remove(c.id)


def test_an_exec_session_takes_input_a_size_and_the_end_of_input(engine_root, image):
    engine = Engine(engine_root)
    c = _run(engine, image, "sleep", "60")
    session = engine.containers.exec(c.id, ["sh", "-c", "cat; echo done >&2; exit 7"], interactive=True)
    session.send(b"hello ")
    session.send(b"there")
    session.close_stdin()
    assert read_stream(session) == (7, "hello there", "done\n")
    tty = engine.containers.exec(c.id, ["sh", "-c", "read x; stty size"], tty=True, interactive=True, size=(24, 80))
    tty.resize(33, 77)
    tty.send(b"\r")
    code, out, _ = read_stream(tty)
    assert code == 0 and out.strip().splitlines()[-1] == "33 77"
    engine.containers.remove(c.id, force=True)


def test_a_session_ends_without_an_exit_code_when_shut_down(engine_root, image):
    """The TUI closes a terminal tab by shutting its session down from the UI thread: the reader wakes."""
    engine = Engine(engine_root)
    c = _run(engine, image, "sleep", "60")
    session = engine.containers.exec(c.id, ["sleep", "30"], interactive=True)
    threading.Timer(0.2, session.shutdown).start()
    while not session.done:
        assert select.select([session], [], [], 10)[0], "the session never woke"
        assert session.read() == []
    assert session.exit_code is None
    session.close()
    engine.containers.remove(c.id, force=True)
