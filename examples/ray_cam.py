"""cam_engine over Ray Data: one list of images shared among workers (actors each holding an Engine), on one
machine or a cluster, into one output folder as the CLI writes it: predictions.jsonl in input order (the CLI's
records, line for line), run.json, each image's overlays, and with --raw its .npy, with --panel its panel, with
--csv predictions.csv and with --report index.html (the CLI's files, by the CLI's code).

    .venv/bin/python examples/ray_cam.py --weights weights/fruits360_r50.safetensors --out run1 \
        --workers 2 --topk 3 --raw --labels-from-folders ../shared/data/fruits360/Test

The list is the CLI's (cam_engine.inputs: folders, list files, images, with the CLI's output names and truth),
so each worker's share keeps the names the whole list gave. On a GPU cluster --gpus-per-worker 1 gives each
actor a card (the engine then runs on CUDA); --address joins a running cluster instead of starting a local one.
The output folder must be on a file system every worker sees. Without Ray, `cam_engine --shard K/N` and
`cam_engine merge` split a list the same way (docs/python.md says which to pick).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import ray

import cam_engine


class CamWorker:
    """A Ray actor: one Engine for its lifetime, each batch of items through Engine.map into the output folder."""

    def __init__(self, weights, engine_options, map_options, labels_from_folders, batch):
        self.engine = cam_engine.Engine(weights, **engine_options)
        self.map_options = map_options
        # run.json's record, from the engine that runs (its backend), handed back with the first batch only.
        self.run_record = json.dumps(self.engine.run_record(labels_from_folders, batch=batch, **map_options))

    def __call__(self, batch):
        items = [{"path": p, "name": n, "truth": t} for p, n, t in zip(batch["path"], batch["name"], batch["truth"])]
        lines, errors = [], []
        for record in self.engine.map(items, batch=len(items), **self.map_options):
            record.pop("arrays", None)
            # The CLI's line: keys sorted, no spaces, UTF-8 as is (nlohmann::json's dump, as json_line writes it).
            lines.append(json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
            errors.append(record.get("error", ""))
        run = [self.run_record] + [""] * (len(lines) - 1)
        self.run_record = ""
        return {"index": batch["index"], "record": np.array(lines, dtype=object),
                "error": np.array(errors, dtype=object), "run": np.array(run, dtype=object)}


def run(inputs, weights, out, workers=2, threads_per_worker=1, gpus_per_worker=0, batch=16,
        labels_from_folders=False, raw=False, panel=False, image_format="png", out_size="original", csv=False,
        report=False, **options):
    """Runs the list through `workers` actors; writes out/predictions.jsonl (complete, or not at all), then
    run.json and, where asked, predictions.csv and index.html; returns the number of images that failed. Ray
    must be initialised (ray.init)."""
    start = time.time()
    items = cam_engine.inputs(inputs, labels_from_folders=labels_from_folders)
    os.makedirs(out, exist_ok=True)
    jsonl = os.path.join(out, "predictions.jsonl")
    partial = jsonl + ".partial"
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # records come back in input order
    dataset = ray.data.from_items([dict(item, index=i) for i, item in enumerate(items)])
    engine_options = {"threads": threads_per_worker, "backend": "cuda" if gpus_per_worker else "auto"}
    map_options = dict(options, out=out, raw=raw, panel=panel, format=image_format, out_size=out_size)
    records = dataset.map_batches(CamWorker, fn_constructor_kwargs={"weights": os.path.abspath(weights),
                                                                    "engine_options": engine_options,
                                                                    "map_options": map_options,
                                                                    "labels_from_folders": labels_from_folders,
                                                                    "batch": batch},
                                  batch_size=batch, compute=ray.data.ActorPoolStrategy(size=workers),
                                  num_cpus=threads_per_worker,
                                  num_gpus=gpus_per_worker, batch_format="numpy")
    failed, run_record = 0, ""
    waiting, next_index = {}, 0  # a batch that overtook another waits (preserve_order makes that rare)
    with open(partial, "w", encoding="utf-8") as f:
        for got in records.iter_batches(batch_size=None, batch_format="numpy"):
            waiting.update(zip(got["index"].tolist(), zip(got["record"].tolist(), got["error"].tolist())))
            run_record = run_record or next((r for r in got["run"].tolist() if r), "")
            while next_index in waiting:
                line, error = waiting.pop(next_index)
                if error:
                    failed += 1
                    print("cam_engine: " + error, file=sys.stderr)
                f.write(line + "\n")
                next_index += 1
    if next_index != len(items):
        raise RuntimeError("%s: %d of %d records came back" % (out, next_index, len(items)))
    os.replace(partial, jsonl)
    if run_record:  # an empty list gives no batch, so no record: then as the CLI, nothing but predictions.jsonl
        elapsed = time.time() - start
        cam_engine.write_run_files(out, json.loads(run_record), "%d images in %.2f s (%.1f img/s) on %d Ray workers"
                                   % (len(items), elapsed, len(items) / elapsed, workers), csv=csv, report=report)
    return failed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="folders, list files, images (as the CLI takes them)")
    p.add_argument("--weights", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=2, help="actors, each holding an Engine (default 2)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="CPU threads of each actor's engine")
    p.add_argument("--gpus-per-worker", type=float, default=0, help="1 on a GPU cluster: a card per actor")
    p.add_argument("--address", default=None, help="a running Ray cluster (default: start a local one)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--topk", type=int, default=1)
    p.add_argument("--method", default="cam")
    p.add_argument("--class", dest="targets", action="append", default=None)
    p.add_argument("--labels-from-folders", action="store_true")
    p.add_argument("--raw", action="store_true")
    p.add_argument("--panel", action="store_true")
    p.add_argument("--format", default="png")
    p.add_argument("--out-size", default="original")
    p.add_argument("--object-mask", default=None)
    p.add_argument("--csv", action="store_true", help="also predictions.csv, as the CLI's --csv")
    p.add_argument("--report", action="store_true", help="also index.html, as the CLI's --report")
    a = p.parse_args()
    if a.address:
        ray.init(address=a.address)
    else:
        ray.init(num_cpus=a.workers * a.threads_per_worker, include_dashboard=False, log_to_driver=False)
    try:
        failed = run(a.inputs, a.weights, a.out, a.workers, a.threads_per_worker, a.gpus_per_worker, a.batch,
                     a.labels_from_folders, a.raw, a.panel, a.format, a.out_size, a.csv, a.report, topk=a.topk,
                     method=a.method, targets=a.targets, object_mask=a.object_mask)
    except cam_engine.Error as e:
        sys.exit("ray_cam.py: %s" % e)
    finally:
        ray.shutdown()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
