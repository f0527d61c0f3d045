"""Fixtures shared by the test modules (helpers they import are in ``tests/helpers.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import short_tmp_dir
from tests.tui_fixtures import NodeRunner, running_node


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A new directory (0700) with a short path, for data directories with a socket."""
    root = short_tmp_dir()
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def node_runner() -> Iterator[NodeRunner]:
    """A real node of the test's own, in a background thread (it may be stopped and restarted)."""
    with running_node() as runner:
        yield runner


@pytest.fixture(scope="module")
def shared_node() -> Iterator[NodeRunner]:
    """One real node for a module's flow tests (each test makes its own community)."""
    with running_node() as runner:
        yield runner
