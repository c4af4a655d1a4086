"""`/_ping`, `/version`, `/info`: what a client asks first, to learn the API version and the host."""

from __future__ import annotations

import os
import platform

from tuiker import __version__
from tuiker.api.server import API_VERSION, MIN_API_VERSION, Api, ApiError, Request
from tuiker.engine import LIVE_STATES, cgroup_version


def ping(api: Api, req: Request) -> None:
    # Builder-Version 1: the classic builder (/build); BuildKit's session protocol is not served.
    req.respond(200, b"OK", "text/plain; charset=utf-8", {
        "Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
    })


def version(api: Api, req: Request) -> dict:
    uname = os.uname()
    return {
        "Platform": {"Name": "tuiker"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                    "Os": "linux", "Arch": _arch(), "KernelVersion": uname.release}}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": _arch(), "KernelVersion": uname.release,
        "BuildTime": "",
    }


def info(api: Api, req: Request) -> dict:
    """docker's SystemInfo, from the engine's counts and the host's facts."""
    import hashlib
    import socket

    engine = api.engine
    containers = engine.containers.list(all=True)
    running = sum(1 for c in containers if c.status in LIVE_STATES and c.status != "paused")
    paused = sum(1 for c in containers if c.status == "paused")
    cgroups = cgroup_version()
    memory = _controller("memory", cgroups)
    cpu = _controller("cpu", cgroups)
    root = os.path.realpath(engine.root)
    digest = hashlib.sha256(root.encode()).hexdigest().upper()
    uname = os.uname()
    return {
        # docker's ID is a key fingerprint; one per engine root here, the same on every call
        "ID": ":".join(digest[i:i + 4] for i in range(0, 48, 4)),
        "Containers": len(containers), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": len(containers) - running - paused, "Images": len(engine.images.list(all=True)),
        "Driver": "overlay", "DriverStatus": [["Backing Filesystem", _filesystem(root)],
                                              ["Supports d_type", "true"], ["Using metacopy", "false"],
                                              ["Native Overlay Diff", "false"], ["userxattr", "false"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": memory, "SwapLimit": memory, "KernelMemory": False, "KernelMemoryTCP": False,
        "CpuCfsPeriod": cpu, "CpuCfsQuota": cpu, "CPUShares": cpu, "CPUSet": _controller("cpuset", cgroups),
        "PidsLimit": _controller("pids", cgroups), "OomKillDisable": cgroups == 1 and memory,
        "IPv4Forwarding": _sysctl("net/ipv4/ip_forward"),
        "BridgeNfIptables": _sysctl("net/bridge/bridge-nf-call-iptables"),
        "BridgeNfIp6tables": _sysctl("net/bridge/bridge-nf-call-ip6tables"), "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")), "NGoroutines": 0, "SystemTime": _now(),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": str(cgroups),
        "NEventsListener": 0, "KernelVersion": uname.release, "OperatingSystem": _os_release(),
        "OSVersion": _os_release("VERSION_ID"), "OSType": "linux", "Architecture": uname.machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames":
                           [], "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
        "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(), "GenericResources": None, "DockerRootDir": root,
        "HttpProxy": os.environ.get("HTTP_PROXY", ""), "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
        "NoProxy": os.environ.get("NO_PROXY", ""), "Name": socket.gethostname(), "Labels": [],
        "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {"tuiker": {"path": "tuiker-monitor"}}, "DefaultRuntime": "tuiker",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True,  # containers run under tuiker's monitor, not under this service
        "Isolation": "", "InitBinary": "", "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""}, "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=cgroupns"] if cgroups == 2 else []),
        "Warnings": [] if memory else ["WARNING: No memory limit support"],
    }


def _controller(name: str, version: int) -> bool:
    """The cgroup controller is there to limit containers with."""
    if version == 2:
        try:
            with open("/sys/fs/cgroup/cgroup.controllers") as f:
                return name in f.read().split()
        except OSError:
            return False
    with open("/proc/self/mountinfo") as f:
        for line in f:  # "... - cgroup cgroup rw,memory": the super options name the v1 hierarchy's controllers
            _, sep, tail = line.partition(" - ")
            fields = tail.split()
            if sep and len(fields) >= 3 and fields[0] == "cgroup" and name in fields[2].split(","):
                return True
    return False


def _filesystem(path: str) -> str:
    best, kind = "", "unknown"
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and (path == fields[1] or path.startswith(fields[1].rstrip("/") + "/")) \
                    and len(fields[1]) >= len(best):
                best, kind = fields[1], fields[2]
    return kind


def _sysctl(name: str) -> bool:
    """A kernel switch is on (false if the module that has it is not loaded)."""
    try:
        with open(f"/proc/sys/{name}") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _os_release(key: str = "PRETTY_NAME") -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                name, _, value = line.strip().partition("=")
                if name == key:
                    return value.strip('"')
    except OSError:
        pass
    return "Linux" if key == "PRETTY_NAME" else ""


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _now() -> str:
    import time

    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1e9):09d}" + \
        time.strftime("%z", time.localtime(t))[:3] + ":" + time.strftime("%z", time.localtime(t))[3:]


def system_df(api: Api, req: Request) -> dict:
    """docker's disk usage: the engine's measure (engine/usage.py, the same as `tuiker system df`) in its shape;
    `type` (API 1.42) picks the kinds measured."""
    from tuiker.api.shapes import container_summary, image_summary

    kinds = tuple(req.query_all("type"))
    known = ("container", "image", "volume", "build-cache")
    for kind in kinds:
        if kind not in known:
            raise ApiError(400, f"unknown object type: {kind}")
    usage = api.engine.disk_usage(kinds or None)
    out: dict = {}
    if usage.images is not None:
        out["LayersSize"] = usage.layers_size
        out["Images"] = [image_summary(api.engine, u.image, u.containers, u.shared_size) for u in usage.images]
    if usage.containers is not None:
        out["Containers"] = [{**container_summary(api.engine, u.container), "SizeRw": u.size_rw,
                              "SizeRootFs": u.size_root_fs} for u in usage.containers]
    if usage.volumes is not None:
        out["Volumes"] = [{**u.volume, "UsageData": {"Size": u.size, "RefCount": u.ref_count}}
                          for u in usage.volumes]
    if not kinds or "build-cache" in kinds:
        out["BuildCache"] = []
    return out


def not_a_swarm_manager(api: Api, req: Request) -> None:
    # docker's answer on a node outside a swarm, which tuiker always is: the docker CLI prints it as is.
    raise ApiError(503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                        "this node to swarm and try again.")


def plugins(api: Api, req: Request) -> list:
    return []  # tuiker has no plugins (only the local volume driver and the bridge network driver, built in)


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


ROUTES = [
    ("GET", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/system/df", system_df),
    ("GET", "/plugins", plugins),
    *((method, f"/{area}{rest}", not_a_swarm_manager) for area in ("swarm", "nodes", "services", "tasks",
                                                                      "secrets", "configs")
      for method in ("GET", "POST", "DELETE") for rest in ("", "/{path:path}")),
]
