"""The Docker Engine API (v1.24-v1.44) over tuiker's engine: docker's own clients (the docker CLI, docker-py,
docker-compose, lazydocker) drive tuiker through `tuiker system service`.

A peer of the CLI and the TUI: it reaches the engine only through `tuiker.engine`. server.py is the HTTP side;
each endpoint module below turns docker's requests into engine calls and the engine's records into docker's
JSON shapes."""

from tuiker.api import build, containers, events, exec, images, networks, system, volumes

ENDPOINT_MODULES = [system, containers, networks, volumes, events, exec, images, build]
