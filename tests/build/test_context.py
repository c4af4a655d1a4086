"""The build context: .dockerignore (moby/patternmatcher), COPY source globbing, the source hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuiker.engine.build.context import BuildContext, ContextError, open_context


def make_tree(root: Path, dirs: list[str], files: list[str]) -> Path:
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text(f)
    return root


def test_basic_context(tmp_path: Path) -> None:
    make_tree(tmp_path, ["node_modules/x"], ["Dockerfile", "app.py", "node_modules/x/y.js", ".dockerignore"])
    (tmp_path / ".dockerignore").write_text("node_modules\n*.md\n")
    ctx = open_context(str(tmp_path), None, tmp_path / "unused")
    assert ctx.dockerfile_text() == b"Dockerfile"
    assert ctx.is_excluded("node_modules/x/y.js") and not ctx.is_excluded("app.py")
    assert list(ctx.walk(".")) == [".dockerignore", "Dockerfile", "app.py"]
    assert ctx.glob("*.py") == ["app.py"]
    with pytest.raises(ContextError, match="file not found in build context or excluded by .dockerignore"):
        ctx.glob("node_modules")
    assert ctx.source_hash(["app.py"]).startswith("file:")
    assert isinstance(ctx, BuildContext)
