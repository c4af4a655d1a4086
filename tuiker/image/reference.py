"""Image references with Docker's rules (distribution/reference normalize.go).

`alpine` is `docker.io/library/alpine:latest`; the first path component is a registry host only if it
has a dot or a colon, is `localhost`, or has an uppercase letter; a reference may carry a tag, a digest,
or both (the digest wins when pulling).
"""

from __future__ import annotations

import re
from collections import namedtuple

from tuiker.base.errors import ReferenceFormatError

DEFAULT_REGISTRY = "docker.io"
# Docker Hub's API does not live at docker.io itself.
DOCKER_HUB_API_HOST = "registry-1.docker.io"
DEFAULT_TAG = "latest"

# Each pattern is used with fullmatch: `$` alone also matches before a trailing newline, which let
# `alpine\n:latest` through as a repository name (and into tags.json, `images`, a container's Image).
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)  # Go's \w: ASCII letters, digits, _
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"
)
_FULL_HEX_RE = re.compile(r"^[a-f0-9]{64}$")


# A namedtuple, not a dataclass: importing dataclasses (and with it inspect) costs ~15 ms on every CLI command.
class Reference(namedtuple("Reference", "registry repository tag digest", defaults=(None, None))):
    registry: str
    repository: str
    tag: str | None
    digest: str | None
    __slots__ = ()

    @property
    def name(self) -> str:
        """registry/repository, fully qualified."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def familiar_name(self) -> str:
        """The short form docker prints: `alpine`, `user/app`, `127.0.0.1:5000/team/app`."""
        if self.registry == DEFAULT_REGISTRY:
            return self.repository.removeprefix("library/")
        return self.name

    @property
    def pull_reference(self) -> str:
        """What to ask the registry's manifest endpoint for: the digest if we have one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse(text: str) -> Reference:
    """Parse an image reference; a missing tag (and digest) means `latest`."""
    ref = parse_name(text)
    if ref.tag is None and ref.digest is None:
        ref = Reference(ref.registry, ref.repository, DEFAULT_TAG, None)
    return ref


def parse_name(text: str) -> Reference:
    """Parse a reference without adding a default tag (`rmi alpine` and `rmi alpine:latest` differ)."""
    original = text
    if not text or text != text.strip():
        raise ReferenceFormatError(f"invalid reference format: {original!r}")
    if _FULL_HEX_RE.fullmatch(text):
        raise ReferenceFormatError(
            f"invalid repository name ({original}), cannot specify 64-byte hexadecimal strings"
        )
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            raise ReferenceFormatError(f"invalid reference format: bad digest in {original!r}")
    tag = None
    # A colon after the last slash is a tag; one before it belongs to a host:port.
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG_RE.fullmatch(tag):
            raise ReferenceFormatError(f"invalid reference format: bad tag {tag!r} in {original!r}")
    registry, _, path = text.partition("/")
    if path and ("." in registry or ":" in registry or registry == "localhost" or registry != registry.lower()):
        if not _HOST_RE.fullmatch(registry):
            raise ReferenceFormatError(f"invalid reference format: bad registry host in {original!r}")
        repository = path
    else:
        registry, repository = DEFAULT_REGISTRY, text
    if registry == "index.docker.io":
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    if not _REPOSITORY_RE.fullmatch(repository):
        if repository != repository.lower():
            raise ReferenceFormatError(
                f"invalid reference format: repository name must be lowercase: {original!r}"
            )
        raise ReferenceFormatError(f"invalid reference format: {original!r}")
    if len(f"{registry}/{repository}") > 255:
        raise ReferenceFormatError(f"invalid reference format: name longer than 255 characters: {original!r}")
    return Reference(registry, repository, tag, digest)


def familiar(full: str) -> str:
    """`docker.io/library/alpine:latest` → `alpine:latest`; also for `name@digest` strings."""
    for sep in ("@", ":"):
        name, found, rest = full.rpartition(sep)
        if found and "/" not in rest:
            return f"{parse_name(name).familiar_name}{sep}{rest}"
    return parse_name(full).familiar_name
