"""Which registries get plain HTTP: loopback always (as docker), others only when the user lists them."""

import json

import pytest

from tuiker.base import config
from tuiker.image.registry import RegistryClient, parse_challenge


@pytest.fixture
def tuiker_config(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    monkeypatch.setenv("TUIKER_CONFIG", str(path))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    config.load.cache_clear()
    yield path
    config.load.cache_clear()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:5000", True), ("127.1.2.3", True), ("localhost:5000", True), ("[::1]:5000", True),
    ("registry.example:5000", False), ("10.0.0.1:5000", False), ("docker.io", False),
])
def test_loopback_detection(host, loopback):
    assert config.is_loopback(host) is loopback


def test_https_unless_loopback_or_listed_insecure(tuiker_config):
    # Constructing a client sends nothing: these hosts are never contacted.
    assert RegistryClient("registry.example:5000")._url("/v2/") == "https://registry.example:5000/v2/"
    assert RegistryClient("127.0.0.1:5000")._url("/v2/") == "http://127.0.0.1:5000/v2/"
    tuiker_config.write_text(json.dumps({"insecure-registries": ["registry.example:5000"]}))
    config.load.cache_clear()
    client = RegistryClient("registry.example:5000")
    # Listed as insecure: HTTPS without certificate checks first, plain HTTP if TLS fails (docker's order).
    assert client._url("/v2/").startswith("https://") and client._fallback_http and not client._verify_tls
    assert RegistryClient("other.example")._verify_tls


def test_bad_config_is_a_clear_error(tuiker_config):
    from tuiker.base.errors import TuikerError

    tuiker_config.write_text("{not json")
    with pytest.raises(TuikerError, match="cannot read tuiker config"):
        config.load()


def test_challenge_parsing():
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:samalba/my-app:pull,push"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
