"""An unexpected exception in the CLI: one sentence that it is a bug and how to report it
(the command and EDMS_DEBUG=1), never the library's raw text or a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import EXIT_INTERNAL, main
from app.imageio import save_image_atomic
from app.pipelines import registry
from tests.images import synthetic_image

TORCH_TEXT = "The expanded size of the tensor (730) must match the existing size (736)"


@pytest.fixture
def broken_encoder(monkeypatch):
    pipe = registry.get("layered-ref")

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003
        raise RuntimeError(TORCH_TEXT)

    monkeypatch.setattr(pipe, "encode_prepared", boom)
    return pipe


def _encode_argv(tmp_path: Path) -> list[str]:
    src = tmp_path / "photo.png"
    save_image_atomic(src, synthetic_image(40, 48))
    return ["encode", str(src), "-p", "layered-ref", "-q", "30",
            "-o", str(tmp_path / "out.edms")]


def test_internal_error_is_one_sentence_with_how_to_report(broken_encoder, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.delenv("EDMS_DEBUG", raising=False)
    argv = _encode_argv(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == EXIT_INTERNAL
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("edms: error: internal error")
    assert "EDMS_DEBUG=1" in line
    assert "edms encode" in line and str(tmp_path / "photo.png") in line  # the command
    assert TORCH_TEXT not in err and "RuntimeError" not in err and "Traceback" not in err
    assert not (tmp_path / "out.edms").exists()


def test_internal_error_traceback_under_edms_debug(broken_encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("EDMS_DEBUG", "1")
    with pytest.raises(RuntimeError, match="expanded size"):
        main(_encode_argv(tmp_path))


def test_user_errors_keep_their_own_message(tmp_path, capsys):
    code = main(["decode", str(tmp_path / "missing.edms"), "-o", str(tmp_path / "x.png")])
    _, err = capsys.readouterr()
    assert code != 0 and code != EXIT_INTERNAL
    assert "internal error" not in err and "missing.edms" in err


def test_cancelled_is_not_an_internal_error(tmp_path, capsys, monkeypatch):
    from app.errors import Cancelled

    pipe = registry.get("layered-ref")

    def stop(*args, **kwargs):  # noqa: ANN002, ANN003
        raise Cancelled("cancelled")

    monkeypatch.setattr(pipe, "encode_prepared", stop)
    code = main(_encode_argv(tmp_path))
    _, err = capsys.readouterr()
    assert code == 130 and "internal error" not in err
