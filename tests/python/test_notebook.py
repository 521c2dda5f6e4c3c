"""The example notebook (examples/cam_engine_demo.ipynb), executed top to bottom by nbclient as Jupyter would,
with this build's package; its printed numbers are checked against the engine called here."""
import os

import pytest

import cam_engine
from conftest import DEMO, ROOT, WEIGHTS

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_the_notebook_runs_and_says_what_the_engine_says(tmp_path):
    path = os.path.join(ROOT, "examples", "cam_engine_demo.ipynb")
    nb = nbformat.read(path, as_version=4)
    os.symlink(os.path.join(ROOT, "weights"), tmp_path / "weights")
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"]
    assert (tmp_path / "apple_golden3_cams.png").stat().st_size > 10_000
    eng = cam_engine.Engine(WEIGHTS)
    r = eng(os.path.join(DEMO, "Apple Golden 3", "r0_155.jpg"), topk=3)
    assert text[1].splitlines()[0].startswith(r.top_labels[0][0])
    records = list(eng.map(DEMO, labels_from_folders=True))
    right = sum(rec["top"][0]["label"] == rec["truth"] for rec in records)
    assert text[3].startswith("%d/%d right" % (right, len(records)))
