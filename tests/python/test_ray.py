"""examples/ray_cam.py on a local Ray cluster of 2 CPUs (2 workers) against one CLI run over the same list: the
same predictions.jsonl, run.json and predictions.csv byte for byte, the same report but for its date and speed,
and the same files (overlays, .npy, panels), bad inputs included."""
import filecmp
import importlib.util
import json
import os
import re
import subprocess

import pytest

from conftest import CLI, DEMO, ROOT, WEIGHTS, demo_photos

ray = pytest.importorskip("ray", reason="Ray is not installed (tools/setup.sh installs it with the peers)")


def _example():
    spec = importlib.util.spec_from_file_location("ray_cam", os.path.join(ROOT, "examples", "ray_cam.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def local_ray():
    # A small object store: the records are small, and a CI container's /dev/shm may be too.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=200 * 1024 * 1024)
    yield
    ray.shutdown()


def test_ray_gives_the_cli_records_and_files(local_ray, tmp_path):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not a JPEG")
    listed = tmp_path / "list.txt"
    photos = sorted(p for p in demo_photos(43) if "Banana" not in p)
    lines = photos[:20] + [str(tmp_path / "gone.jpg"), str(not_an_image)] + photos[20:]
    listed.write_text("\n".join(lines) + "\n")
    inputs = [str(listed), os.path.join(DEMO, "Banana")]
    cli = subprocess.run([CLI, "--weights", WEIGHTS, "--backend", "cpu", "--quiet", "--out", str(tmp_path / "cli"),
                          "--topk", "2", "--raw", "--panel", "--labels-from-folders", "--batch", "8", "--csv", "--report",
                          *inputs])
    assert cli.returncode == 1  # the two bad inputs
    cli_records = [json.loads(line) for line in open(tmp_path / "cli" / "predictions.jsonl")]
    failed = _example().run(inputs, WEIGHTS, str(tmp_path / "ray"), workers=2, batch=8,
                            labels_from_folders=True, raw=True, panel=True, csv=True, report=True, topk=2)
    assert failed == 2
    ray_jsonl = (tmp_path / "ray" / "predictions.jsonl").read_bytes()
    assert ray_jsonl == (tmp_path / "cli" / "predictions.jsonl").read_bytes()
    assert len(cli_records) == len(photos) + 2 + len(os.listdir(DEMO + "/Banana"))
    files = [f for r in cli_records if "error" not in r for f in [m["file"] for m in r["maps"]] + [r["raw"], r["panel"]]]
    assert len(files) == 4 * (len(cli_records) - 2)
    assert all(filecmp.cmp(tmp_path / "ray" / f, tmp_path / "cli" / f, shallow=False) for f in files)
    assert not (tmp_path / "ray" / "predictions.jsonl.partial").exists()
    for name in ("run.json", "predictions.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    run = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert run["topk"] == 2 and run["raw"] and run["panel"] and run["details"]["batch"] == 8

    def report(folder):  # the report without its date and "this run" rows
        html = (tmp_path / folder / "index.html").read_text()
        assert "<tr><th>date</th>" in html and "<tr><th>this run</th>" in html
        return re.sub(r"<tr><th>(date|this run)</th><td>[^<]*</td></tr>", "", html)

    ray_report = report("ray")
    assert ray_report == report("cli")
    assert "Ray workers" in (tmp_path / "ray" / "index.html").read_text()
