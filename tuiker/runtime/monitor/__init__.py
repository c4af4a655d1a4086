"""The monitor: one supervising process for all the containers of an engine root.

Why one process for all rather than one per container (conmon's design): a Python process costs about
10 MiB, against conmon's 1.9 MiB, so a process per container would cost five times conmon; one monitor
costs its ~12 MiB once, and each further container only a few fds and buffers (bench/start measures it).

It is started on demand by the CLI or the TUI (monitor_client.py) and lives in a session of its own, so closing
either never stops a detached container. If it dies, containers keep running, and the next command starts a new
one, which adopts them.

Read in this order:
    main.py        the process: sealed re-exec, its lock, the loop
    server.py      the event loop, clients, the wire (one JSON line each way, then frames)
    dispatch.py    each request, op -> handler
    supervisor.py  containers' lives: start, output, exit, restart, reconcile after a monitor restart
    start.py       one container's start, from its config to its execve
    setup.py       a process between fork and execve, followed without waiting (start and exec)
    exec.py        a further process in a running container
    stdio.py       ptys, pipes and FIFOs, one way for both
    running.py     a supervised process;  logs.py  docker's json-file log
The container's side of a start or an exec, between fork and execve, is tuiker/runtime/spawn/.
"""
