"""The Colab notebooks run top to bottom outside Colab, with a tiny synthetic configuration.

Each notebook is executed with nbclient in a fresh kernel (this interpreter), in a
temporary folder, with ``TFGENRE_NOTEBOOK_TINY=1``. Colab-only cells are guarded with
``if IN_COLAB:`` and so are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "colab").glob("*.ipynb"))


def _run(path: Path, tmp_path: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("TFGENRE_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("TFGENRE_NOTEBOOK_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(ROOT), os.environ.get("PYTHONPATH", "")])))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return nb


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") or json.dumps(o.get("data", {})))
    return "\n".join(out)


def test_notebooks_present_and_guarded():
    names = [p.name for p in NOTEBOOKS]
    assert names == ["01_quickstart.ipynb", "02_gpu_tpu_training.ipynb", "03_tuning.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert 'IN_COLAB = "google.colab" in sys.modules' in source
        # Every Colab-only import sits under the guard.
        for cell in nb.cells:
            if cell.cell_type == "code" and "google.colab" in cell.source:
                assert "if IN_COLAB" in cell.source, cell.source
            assert not cell.get("outputs"), "notebooks are stored without outputs"


def test_01_quickstart(tmp_path, monkeypatch):
    nb = _run(ROOT / "colab" / "01_quickstart.ipynb", tmp_path, monkeypatch)
    text = _text(nb)
    assert "tfgenre 0.1.0" in text and "labels:" in text
    work = tmp_path / "work"
    assert (work / "runs" / "quickstart" / "model.keras").exists()
    assert (work / "runs" / "quickstart" / "report" / "report.md").exists()


@pytest.mark.slow
def test_02_gpu_tpu_training(tmp_path, monkeypatch):
    nb = _run(ROOT / "colab" / "02_gpu_tpu_training.ipynb", tmp_path, monkeypatch)
    assert "windows/s" in _text(nb)
    assert (tmp_path / "work" / "runs" / "gpu_tpu" / "model.keras").exists()


@pytest.mark.slow
def test_03_tuning(tmp_path, monkeypatch):
    from tfgenre.run import known_stages

    if "tune" not in known_stages():
        pytest.skip("tfgenre.tune is not installed")
    nb = _run(ROOT / "colab" / "03_tuning.ipynb", tmp_path, monkeypatch)
    assert "best params:" in _text(nb)
