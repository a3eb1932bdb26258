"""Fixtures: a real ``dominion serve``, built from this repository, started once per session."""

from __future__ import annotations

import pathlib
import sys
from typing import Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "clients" / "python"))  # the package as checked out

from dominion import Client  # noqa: E402
from dominion.testing import DominionServer, dominion_binary  # noqa: E402


@pytest.fixture(scope="session")
def dominion_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The binary: $DOMINION_BIN (scripts/test.sh builds it once), or built here."""
    return dominion_binary(str(REPO), str(tmp_path_factory.mktemp("bin")))


@pytest.fixture(scope="session")
def server(dominion_bin: str) -> Iterator[DominionServer]:
    with DominionServer(dominion_bin, token="py-test-token") as s:
        yield s


@pytest.fixture()
def client(server: DominionServer) -> Client:
    return server.client()
