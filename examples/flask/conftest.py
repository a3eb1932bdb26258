"""Fixtures of the Flask example's tests: the example app and a real dominion serve."""

from __future__ import annotations

import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "clients" / "python"))  # the client as checked out
sys.path.insert(0, str(HERE))  # the example's app module

from dominion.testing import dominion_binary  # noqa: E402


@pytest.fixture(scope="session")
def dominion_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The binary: $DOMINION_BIN (scripts/test.sh builds it once), or built here."""
    return dominion_binary(str(REPO), str(tmp_path_factory.mktemp("bin")))
