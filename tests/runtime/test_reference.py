"""Docker's reference rules (distribution/reference normalize.go), and platform selection."""

import pytest

from tuiker.base.errors import NotFoundError, ReferenceFormatError, RegistryError
from tuiker.image import manifest, reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), [
    ("alpine", "docker.io", "library/alpine", "latest", None),
    ("alpine:3.20", "docker.io", "library/alpine", "3.20", None),
    ("user/app", "docker.io", "user/app", "latest", None),
    ("index.docker.io/library/alpine", "docker.io", "library/alpine", "latest", None),
    ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
    ("127.0.0.1:5000/team/app:1.2", "127.0.0.1:5000", "team/app", "1.2", None),
    ("localhost/app", "localhost", "app", "latest", None),
    ("localhost:5000/app", "localhost:5000", "app", "latest", None),
    ("ghcr.io/org/tool@" + DIGEST, "ghcr.io", "org/tool", None, DIGEST),
    ("quay.io/a/b:v1@" + DIGEST, "quay.io", "a/b", "v1", DIGEST),
    ("Registry/app", "Registry", "app", "latest", None),  # uppercase first part is a host
    ("a.b/c__d/e-f.g", "a.b", "c__d/e-f.g", "latest", None),
])
def test_parse(text, registry, repository, tag, digest):
    ref = reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_docker_hub_api_host_and_familiar_names():
    assert reference.parse("alpine").api_host == "registry-1.docker.io"
    assert reference.parse("127.0.0.1:5000/x").api_host == "127.0.0.1:5000"
    assert reference.familiar("docker.io/library/alpine:latest") == "alpine:latest"
    assert reference.familiar("docker.io/user/app:1") == "user/app:1"
    assert reference.familiar("127.0.0.1:5000/team/app:1.2") == "127.0.0.1:5000/team/app:1.2"
    assert reference.familiar(f"docker.io/library/alpine@{DIGEST}") == f"alpine@{DIGEST}"
    assert str(reference.parse("alpine")) == "docker.io/library/alpine:latest"


@pytest.mark.parametrize("text", [
    "", " alpine", "Alpine", "alpine:", "alpine:-bad", "alpine@sha256:123", "a//b", "app/", "/app",
    "a" * 64, "127.0.0.1:5000/Team/app", "alpine:" + "x" * 200, "bad host!/app",
])
def test_malformed_references_are_refused_with_a_message(text):
    with pytest.raises(ReferenceFormatError) as err:
        reference.parse(text)
    assert "invalid" in str(err.value)
    assert "\n" not in str(err.value)


def test_parse_name_keeps_the_tag_absent():
    assert reference.parse_name("alpine").tag is None


def _index(*platforms, attestation=False):
    entries = [{"digest": f"sha256:{str(i) * 64}", "platform": p} for i, p in enumerate(platforms)]
    if attestation:
        entries.insert(0, {"digest": "sha256:" + "f" * 64, "platform": {"os": "unknown", "architecture": "unknown"},
                           "annotations": {"vnd.docker.reference.type": "attestation-manifest"}})
    return {"manifests": entries}


def test_platform_selection_normalises_and_skips_attestations():
    index = _index({"os": "linux", "architecture": "arm64", "variant": "v8"},
                   {"os": "linux", "architecture": "amd64"}, attestation=True)
    assert manifest.select_platform(index, manifest.parse_platform("linux/amd64"))["digest"].startswith("sha256:1")
    assert manifest.select_platform(index, manifest.parse_platform("linux/aarch64"))["digest"].startswith("sha256:0")
    assert manifest.normalize("linux", "x86_64") == manifest.Platform("linux", "amd64")
    assert manifest.normalize("linux", "armhf") == manifest.Platform("linux", "arm", "v7")


def test_platform_selection_prefers_exact_variant_and_reports_what_exists():
    index = _index({"os": "linux", "architecture": "arm", "variant": "v6"},
                   {"os": "linux", "architecture": "arm", "variant": "v7"})
    assert manifest.select_platform(index, manifest.parse_platform("linux/arm/v7"))["digest"].startswith("sha256:1")
    with pytest.raises(NotFoundError, match="linux/s390x.*linux/arm/v6"):
        manifest.select_platform(index, manifest.parse_platform("linux/s390x"))
    with pytest.raises(RegistryError, match="invalid platform"):
        manifest.parse_platform("linux")
