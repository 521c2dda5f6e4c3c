"""cam_engine.Engine against the CLI on real Fruits-360 photos, and every input kind and bad input."""
import os
import pickle
import re
import shutil
import threading
import time

import numpy as np
import pytest
from PIL import Image

import cam_engine
from conftest import DEMO, WEIGHTS, demo_photos, run_cli, without_files


def test_info_is_the_models(engine):
    info = engine.info
    assert info["architecture"].startswith("ResNet-50")
    assert info["classes"] == 43 == len(engine.labels)
    assert info["input_size"] == [320, 320] and info["map_size"] == [20, 20]
    assert info["resize"] == "pil-bilinear" and info["backend"] == "cpu"
    assert engine.labels == sorted(d for d in os.listdir(DEMO) if os.path.isdir(os.path.join(DEMO, d)))
    assert info["cpu_isa"] in ("avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16",
                               "avx512_core_amx")


def test_paths_equal_the_cli(engine, tmp_path):
    paths = demo_photos(6)
    records, maps = run_cli(tmp_path, paths, "--topk", "3", "--raw", "--object-mask", "white")
    r = engine(paths, topk=3, object_mask="white")
    assert r.maps.shape == (6, 3, 320, 320) and r.maps.dtype == np.float32
    for i, record in enumerate(records):
        assert np.array_equal(r.maps[i], maps[record["name"]])  # bit for bit
        want = without_files(record)
        del want["name"]
        assert r.records[i] == want
        assert r.top[i, :3].tolist() == [m["class"] for m in record["maps"]]
        assert r.top_labels[i][0] == record["top"][0]["label"]
        assert r.peaks[i].tolist() == [m["peak"] for m in record["maps"]]
        assert r.boxes[i].tolist() == [m["box"] for m in record["maps"]]
    assert np.allclose(r.probs.sum(1), 1, atol=1e-5)
    assert np.array_equal(r.probs.argmax(1), r.top[:, 0])


def test_every_input_kind_gives_the_same_maps(engine):
    paths = demo_photos(3)
    want = engine(paths, topk=2)
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]  # the engine decodes as PIL does
    assert np.array_equal(engine(arrays, topk=2).maps, want.maps)
    assert np.array_equal(engine(np.stack(arrays), topk=2).maps, want.maps)
    assert np.array_equal(engine(arrays[1], topk=2).maps[0], want.maps[1])
    assert np.array_equal(engine(Image.open(paths[2]), topk=2).maps[0], want.maps[2])
    mixed = engine([paths[0], arrays[1], Image.open(paths[2])], topk=2)
    assert np.array_equal(mixed.maps, want.maps)
    # any sizes in one call: a photo enlarged and a crop
    big = np.asarray(Image.open(paths[0]).convert("RGB").resize((257, 311)))
    r = engine([big, arrays[1][10:90, 5:95]], topk=1)
    assert r.maps.shape == (2, 1, 320, 320) and r.records[0]["width"] == 257 and r.records[1]["height"] == 80
    assert np.array_equal(engine([big], topk=1).maps[0], r.maps[0])


def test_methods_targets_and_overlays(engine, tmp_path):
    path = demo_photos(1)[0]
    records, maps = run_cli(tmp_path, [path], "--topk", "1", "--class", "Pomegranate", "--class", "3",
                            "--method", "cam,gradcam++,eigencam", "--raw")
    r = engine(path, topk=1, targets=["Pomegranate", 3], method="cam,gradcam++,eigencam", overlays=True)
    assert r.maps.shape == (1, 9, 320, 320)
    assert np.array_equal(r.maps[0], maps[records[0]["name"]])
    assert r.map_classes[0, 1:3].tolist() == [engine.class_index("Pomegranate"), 3]
    assert [m["kind"] for m in r.records[0]["maps"]] == [m["kind"] for m in records[0]["maps"]]
    overlay = r.overlays[0][0]
    assert overlay.shape == (100, 100, 3) and overlay.dtype == np.uint8
    assert np.array_equal(overlay, np.asarray(Image.open(os.path.join(tmp_path, records[0]["maps"][0]["file"]))))
    assert engine(path, maps=False).maps.shape == (1, 0, 320, 320)


def test_bad_inputs_raise_the_kind_and_a_clear_message(engine, tmp_path):
    photo = np.asarray(Image.open(demo_photos(1)[0]).convert("RGB"))
    with pytest.raises(cam_engine.ImageError, match="dtype float32; images are uint8"):
        engine(photo.astype(np.float32))
    with pytest.raises(cam_engine.ImageError, match=r"shape \(100, 100\)"):
        engine(photo[:, :, 0])
    with pytest.raises(cam_engine.ImageError, match="no images given"):
        engine([])
    with pytest.raises(cam_engine.ImageError, match="missing.jpg: cannot open image file"):
        engine([demo_photos(1)[0], str(tmp_path / "missing.jpg")])
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    with pytest.raises(cam_engine.ImageError, match="notes.jpg: "):
        engine(str(text))
    with pytest.raises(cam_engine.ImageError, match="a dict"):
        engine({"a": 1})
    with pytest.raises(cam_engine.OptionError, match=re.escape("unknown method 'gradcam+' (expected cam,")):
        engine(photo, method="gradcam+")
    with pytest.raises(cam_engine.OptionError, match="unknown class 'Pomegranat'.*'Pomegranate'"):
        engine(photo, targets="Pomegranat")
    with pytest.raises(cam_engine.OptionError, match="batch must be within"):
        engine(photo, batch=0)
    with pytest.raises(TypeError):
        engine(photo, top_k=3)  # a misspelt option is not ignored
    with pytest.raises(cam_engine.WeightsError, match="README.md: "):
        cam_engine.Engine(os.path.join(os.path.dirname(WEIGHTS), "..", "README.md"))
    with pytest.raises(cam_engine.WeightsError, match="cannot open"):
        cam_engine.Engine(str(tmp_path / "none.safetensors"))
    with pytest.raises(cam_engine.OptionError, match="unknown backend"):
        cam_engine.Engine(WEIGHTS, backend="tpu")
    closed = cam_engine.Engine(WEIGHTS, backend="cpu")
    closed.close()
    assert closed.closed
    with pytest.raises(cam_engine.Error, match="the engine is closed"):
        closed(photo)
    assert issubclass(cam_engine.ImageError, cam_engine.Error) and issubclass(cam_engine.WeightsError, cam_engine.Error)


def test_map_gives_the_cli_records_and_goes_on_after_a_bad_image(engine, tmp_path):
    records, maps = run_cli(tmp_path / "cli", [DEMO], "--topk", "2", "--raw", "--labels-from-folders", "--batch", "8")
    got = list(engine.map(DEMO, topk=2, labels_from_folders=True, batch=8))
    assert len(got) == len(records) == 86
    for g, want in zip(got, records):
        assert without_files(g) == without_files(want)
        assert np.array_equal(g["arrays"]["maps"], maps[want["name"]])
    listed = [demo_photos(2)[0], str(tmp_path / "gone.jpg"), demo_photos(2)[1]]
    out = list(engine.map(listed))
    (tmp_path / "empty").mkdir()
    with pytest.warns(UserWarning, match="empty: no images in this folder"):
        assert list(engine.map(str(tmp_path / "empty"))) == []
    assert [("error" in r) for r in out] == [False, True, False]
    assert out[1]["error"].endswith("gone.jpg: cannot open image file (No such file or directory)")


def test_map_holds_the_engine_until_closed(engine):
    stream = engine.map(DEMO, batch=4)
    first = next(stream)
    assert "top" in first
    with pytest.raises(cam_engine.Error, match="a map\\(\\) over it is still open"):
        engine(demo_photos(1)[0])
    stream.close()  # stops the pipeline at its next batch
    assert len(engine(demo_photos(1)[0]).records) == 1
    for i, _ in enumerate(engine.map(DEMO, batch=4)):  # a loop left early closes it too
        if i == 5:
            break
    assert len(engine(demo_photos(1)[0]).records) == 1


def test_pickle_ships_the_weights_and_options(engine):
    copy = pickle.loads(pickle.dumps(engine))
    photo = demo_photos(1)[0]
    assert copy.info == engine.info
    assert np.array_equal(copy(photo, topk=3).maps, engine(photo, topk=3).maps)
    with open(WEIGHTS, "rb") as f:
        in_memory = cam_engine.Engine(f.read(), backend="cpu", input_size=224)
    assert in_memory.info["input_size"] == [224, 224]
    again = pickle.loads(pickle.dumps(in_memory))
    assert np.array_equal(again(photo).maps, in_memory(photo).maps)


def test_two_threads_two_engines_and_the_gil_released():
    paths = demo_photos(8)
    engines = [cam_engine.Engine(WEIGHTS, backend="cpu", threads=1) for _ in range(2)]
    want = [e(paths[i::2], topk=2).maps for i, e in enumerate(engines)]
    got = [None, None]

    def work(i):
        got[i] = engines[i](paths[i::2], topk=2).maps

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    # While the engine works, Python threads run: the longest pause of a ticking thread during a call is
    # far shorter than the call (with the GIL held it would be the whole call).
    ticks, running = [], [True]

    def tick():
        while running[0]:
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    start = time.perf_counter()
    engines[0](paths * 4, topk=3, method="gradcam++")
    end = time.perf_counter()
    running[0] = False
    ticker.join()
    inside = [t for t in ticks if start <= t <= end]
    gaps = np.diff([start] + inside + [end])
    assert gaps.max() < (end - start) / 4, "a Python thread was blocked for %.3f of %.3f s" % (gaps.max(), end - start)


def test_map_writes_the_cli_files_and_refuses_bad_file_options(engine, tmp_path):
    photos = demo_photos(3)
    records, _ = run_cli(tmp_path / "cli", photos, "--topk", "1", "--raw", "--format", "jpg", "--out-size", "64")
    got = list(engine.map(photos, out=tmp_path / "py", raw=True, format="jpg", out_size="64"))
    assert [{k: v for k, v in g.items() if k != "arrays"} for g in got] == records
    for r in records:
        for f in [r["maps"][0]["file"], r["raw"]]:
            assert (tmp_path / "py" / f).read_bytes() == (tmp_path / "cli" / f).read_bytes()
    with pytest.raises(cam_engine.OptionError, match="format: 'tiff' is neither png nor jpg"):
        engine.map(photos, out=tmp_path / "bad", format="tiff")
    with pytest.raises(cam_engine.OptionError, match="out_size: '0x9' is not original, input, WxH or N"):
        engine.map(photos, out=tmp_path / "bad", out_size="0x9")


def test_bf16_on_the_cpu_gives_the_fp32_top1(engine):
    photos = demo_photos(12)
    try:
        bf16 = cam_engine.Engine(WEIGHTS, backend="cpu", precision="bf16")
    except cam_engine.Error as e:
        assert "no bf16 instructions" in str(e)
        pytest.skip(str(e))
    assert bf16.info["precision"] == "bf16" and engine.info["precision"] == "fp32"
    a, b = engine(photos), bf16(photos)
    assert np.array_equal(a.top[:, 0], b.top[:, 0])
    assert np.abs(a.probs - b.probs).max() < 0.02
    assert np.abs(a.maps - b.maps).max() < 0.06
    with pytest.raises(cam_engine.Error, match="the CPU backend computes in fp32 or bf16 \\(asked for fp16\\)"):
        cam_engine.Engine(WEIGHTS, backend="cpu", precision="fp16")


def test_map_records_a_truth_the_model_lacks_as_the_cli_does(engine, tmp_path):
    folder = tmp_path / "in" / "Not A Fruit Here"
    folder.mkdir(parents=True)
    for p in demo_photos(2):
        shutil.copy(p, folder / os.path.basename(p))
    records, _ = run_cli(tmp_path / "cli", [str(tmp_path / "in")], "--labels-from-folders")
    got = list(engine.map(str(tmp_path / "in"), labels_from_folders=True))
    assert [r["truth_unknown"] for r in records] == [True, True]
    assert [without_files(g) for g in got] == [without_files(r) for r in records]


def test_run_record_is_the_clis(tmp_path):
    """Engine.run_record and write_run_files alone: run.json as the CLI writes it for the same options, and an
    in-memory engine refused by name."""
    photo = demo_photos(1)[0]
    run_cli(tmp_path / "cli", [photo], "--topk", "3", "--method", "cam,gradcam++", "--class", "Banana", "--alpha",
            "0.3", "--format", "jpg", "--object-mask", "white")
    eng = cam_engine.Engine(WEIGHTS, backend="cpu")
    record = eng.run_record(out=str(tmp_path / "py"), topk=3, method="cam,gradcam++", targets="Banana", alpha=0.3,
                            format="jpg", object_mask="white")
    os.makedirs(tmp_path / "py")
    cam_engine.write_run_files(tmp_path / "py", record)
    assert (tmp_path / "py" / "run.json").read_bytes() == (tmp_path / "cli" / "run.json").read_bytes()
    with pytest.raises(cam_engine.OptionError, match="weights came as bytes"):
        cam_engine.Engine(open(WEIGHTS, "rb").read(), backend="cpu").run_record()
    with pytest.raises(cam_engine.OptionError, match="not a run record"):
        cam_engine.write_run_files(tmp_path / "py", {"topk": 1})
