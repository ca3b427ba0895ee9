"""The analyst notebooks: stored without outputs, and each runs top to bottom on the demo week."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_the_three_stories():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) >= 3, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: outputs are committed; clear them (Jupyter: Edit > Clear Outputs)"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(demo_week, monkeypatch, path):
    settings, _ = demo_week
    # the kernel inherits this environment; load_settings() in the notebook reads it
    for key, value in {
        "NOVAENERGY_LAKE_ROOT": settings.lake_root,
        "NOVAENERGY_REPORTS_DIR": settings.reports_dir,
        "NOVAENERGY_WAREHOUSE": settings.warehouse_path,
        "GO_LEDGER_PATH": settings.go_ledger_path,
        "SITE_ID": settings.site_id,
        "GRID_REGION": settings.grid_region,
        "SITE_TIMEZONE": settings.site_timezone,
        "MPLBACKEND": "Agg",
    }.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},  # as Jupyter runs it
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first failure
