"""Large artifacts: the size threshold, the one progress line, and uploads to stores that
cannot take parts (a local folder, a proxy over a folder) falling back to one upload."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from jupyter_mlops.core.tracking.progress import ProgressLine
from jupyter_mlops.core.tracking.upload import (
    DEFAULT_LARGE_ARTIFACT_MB,
    ENV_LARGE_ARTIFACT_MB,
    large_file_bytes,
    upload_folder,
)

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", DEFAULT_LARGE_ARTIFACT_MB * MB), ("2", 2 * MB), ("0.5", MB // 2), ("junk", 100 * MB)],
)
def test_threshold_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: float
) -> None:
    monkeypatch.setenv(ENV_LARGE_ARTIFACT_MB, raw)
    assert large_file_bytes() == int(expected)


def test_progress_is_one_line_rewritten_in_place() -> None:
    # Given a progress line that may redraw at every update
    stream = io.StringIO()
    line = ProgressLine("uploading m.bin", 4 * MB, stream=stream, every=0.0)

    # When four parts go up and it closes
    for part in range(1, 5):
        line.update(part * MB)
    line.close()

    # Then the output is a single line of carriage-return redraws ending at 100 %
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 5
    assert text.rstrip("\n").split("\r")[-1].startswith("uploading m.bin: 100% (4/4 MB, ")


def test_closing_after_a_failure_says_interrupted() -> None:
    stream = io.StringIO()
    line = ProgressLine("uploading m.bin", 10 * MB, stream=stream, every=0.0)
    line.update(3 * MB)
    line.close(ok=False)
    last = stream.getvalue().split("\r")[-1]
    assert last.startswith("uploading m.bin: 30% (3/10 MB, ") and last.endswith(" - interrupted\n")


def test_large_file_to_a_local_store_falls_back_to_one_upload_with_progress(
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a 3 MB file among small ones, and a 1 MB threshold
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv(ENV_LARGE_ARTIFACT_MB, "1")
    folder = tmp_path / "staged"
    (folder / "cell").mkdir(parents=True)
    (folder / "cell" / "source.py").write_text("x = 1\n")
    payload = os.urandom(3 * MB)
    (folder / "weights.bin").write_bytes(payload)
    client = MlflowClient(tracking_uri)
    run = client.create_run(client.create_experiment("upload"))

    # When the folder is uploaded to the run's (local) artifact location
    upload_folder(run.info.artifact_uri, tracking_uri, str(folder))

    # Then every file is there, the large one whole, with one progress line for it
    back = client.download_artifacts(run.info.run_id, "weights.bin", str(tmp_path / "down"))
    assert Path(back).read_bytes() == payload
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"cell", "weights.bin"}
    err = capsys.readouterr().err
    progress = [line for line in err.split("\n") if "uploading weights.bin" in line]
    assert len(progress) == 1 and progress[0].startswith("\r")
    assert "uploading weights.bin: 100% (3/3 MB" in err
