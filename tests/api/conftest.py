"""The API's tests: `api` is a running `tuiker system service` over this test's engine root (which holds the
busybox image as `busybox`); `client` a docker-py client on it. The service's stderr must stay free of
tracebacks: an endpoint that crashed is a failure even when the client coped."""

from __future__ import annotations

import pytest

from tests.apiserver import ApiService

DOCKER_CLI = "/usr/bin/docker"  # Debian's docker.io 20.10 client, whatever else is on the PATH


@pytest.fixture
def api(engine):
    service = ApiService(engine.root).start()
    yield service
    err = service.stop()
    assert "Traceback" not in err, f"the service crashed while serving:\n{err}"


@pytest.fixture
def client(api):
    docker = pytest.importorskip("docker", reason="docker-py is installed by the test extra")
    c = docker.DockerClient(base_url=api.url, version="1.44", timeout=60)
    yield c
    c.close()
