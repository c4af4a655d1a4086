"""engine.images.pull/push with credentials given by the caller (the API's X-Registry-Auth), not the stored ones:
a user and password, or an identity token traded at the token server with OAuth2's refresh-token grant."""

from __future__ import annotations

import pytest

from tuiker.engine import IDENTITY_TOKEN_USER, Engine, TuikerError


def test_pull_and_push_with_a_given_login(engine_root, make_proxy, busybox_image):
    proxy = make_proxy(users={"bob": "pw"}, refresh_tokens={"bob-refresh"})
    images = Engine(engine_root).images
    name = f"{proxy.host}/test/busybox:latest"
    with pytest.raises(TuikerError, match="authentication required"):
        images.pull(name)  # nothing stored for this registry
    assert images.pull(name, login=("bob", "pw")).image.repo_tags == [name]
    images.tag(name, f"{proxy.host}/logins/copy:1")
    pushed = images.push(f"{proxy.host}/logins/copy:1", login=(IDENTITY_TOKEN_USER, "bob-refresh"))
    assert [p.tag for p in pushed.pushed] == [f"{proxy.host}/logins/copy:1"]
    grants = [s for s in proxy.seen if s.path == "/token" and s.method == "POST"]
    assert grants and grants[-1].status == 200 and "push" in grants[-1].scope
    with pytest.raises(TuikerError, match="authentication required or denied"):
        images.push(f"{proxy.host}/logins/copy:1", login=(IDENTITY_TOKEN_USER, "stolen"))
