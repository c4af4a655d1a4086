"""Containers on the kernel: their files, the monitor that runs them, namespaces, cgroups, security. A library
with no UI imports; tuiker/engine is the door to it."""
