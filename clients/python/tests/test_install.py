"""`pip install` of the package works offline, from the repository, with nothing from PyPI."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="pip is not installed for this python")
def test_pip_install_offline(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    res = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (target / "dominion" / "py.typed").exists()
    check = subprocess.run(
        [sys.executable, "-c", "import dominion, sys; print(dominion.__file__, dominion.Client.__name__)"],
        env={"PYTHONPATH": str(target)}, cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(str(target)) and "Client" in check.stdout
