"""Bulk actions and prunes (lazydocker's `b` menus): what each does to the engine, and the menus that list them.
Each runs in a worker thread and returns the line the app notifies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuiker.engine import LIVE_STATES, one_line
from tuiker.fmt import human_size

if TYPE_CHECKING:
    from tuiker.engine import Engine


@dataclass(frozen=True)
class BulkAction:
    label: str  # in the menu
    question: str  # the confirmation
    run: Callable[[Engine], str]


def _each(what: str, done: str, items: list, act: Callable[[object], object]) -> str:
    """`act` on every item, going on past failures: how many were done, and the first error."""
    errors = []
    for item in items:
        try:
            act(item)
        except Exception as e:  # noqa: BLE001 - one container's error must not stop the others
            errors.append(one_line(e))
    text = f"{done} {len(items) - len(errors)} {what}"
    return text + (f"; {len(errors)} failed: {errors[0]}" if errors else "")


def stop_all(engine: Engine) -> str:
    running = [c for c in engine.containers.list(all=True) if c.status in LIVE_STATES]
    return _each("containers", "stopped", running, lambda c: engine.containers.stop(c.id))


def remove_all(engine: Engine) -> str:
    every = engine.containers.list(all=True)
    return _each("containers", "removed", every, lambda c: engine.containers.remove(c.id, force=True))


def prune_containers(engine: Engine) -> str:
    return f"removed {len(engine.containers.prune())} stopped containers"


def _prune_images(engine: Engine, all_images: bool) -> str:
    done, reclaimed = engine.images.prune(all_images=all_images)
    deleted = sum(1 for verb, _ in done if verb == "Deleted")
    return f"deleted {deleted} images and layers, {human_size(reclaimed)} reclaimed"


def prune_networks(engine: Engine) -> str:
    return f"removed {len(engine.networks.prune())} unused networks"


def _prune_volumes(engine: Engine, all_volumes: bool) -> str:
    gone, freed = engine.volumes.prune(all_volumes=all_volumes)
    return f"removed {len(gone)} volumes, {human_size(freed)} freed"


ACTIONS: dict[str, BulkAction] = {
    "stop_all": BulkAction("Stop all containers", "Stop every running container?", stop_all),
    "prune_containers": BulkAction("Remove all stopped containers", "Remove every container that does not run?",
                                   prune_containers),
    "remove_all": BulkAction("Remove all containers (running ones killed)",
                             "Remove every container? Running ones will be killed.", remove_all),
    "prune_images": BulkAction("Remove dangling images", "Remove every image without a tag that no container uses?",
                               lambda engine: _prune_images(engine, False)),
    "prune_images_all": BulkAction("Remove unused images", "Remove every image no container uses?",
                                   lambda engine: _prune_images(engine, True)),
    "prune_networks": BulkAction("Remove unused networks", "Remove every network no container is on?",
                                 prune_networks),
    "prune_volumes": BulkAction("Remove unused anonymous volumes", "Remove every anonymous volume no container uses?",
                                lambda engine: _prune_volumes(engine, False)),
    "prune_volumes_all": BulkAction("Remove all unused volumes", "Remove every volume no container uses, named ones "
                                    "too? Their data is lost.", lambda engine: _prune_volumes(engine, True)),
}

# The `b` menu of each panel (Images' `b` builds: its prunes are in the prune menu), and the prune menu (`B`).
BULK_MENUS: dict[str, list[str]] = {
    "containers": ["stop_all", "prune_containers", "remove_all"],
    "networks": ["prune_networks"],
    "volumes": ["prune_volumes", "prune_volumes_all"],
    "prune": ["prune_containers", "prune_images", "prune_images_all", "prune_networks", "prune_volumes",
              "prune_volumes_all"],
}
