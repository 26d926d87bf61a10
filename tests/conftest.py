"""Shared pytest setup: Qt runs headless (offscreen) unless the caller chose a platform."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):  # noqa: ANN001, ANN201
    """The workbench window of a GUI test module (:func:`tests.guikit.window`)."""
    from tests.guikit import window

    yield from window(tmp_path_factory)
