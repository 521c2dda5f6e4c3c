"""cam_engine for Python: predictions and class activation maps of a ResNet, by the same C++ engine as the
cam_engine command line (docs/python.md).

    import cam_engine
    eng = cam_engine.Engine("weights/fruits360_r50.safetensors")
    r = eng("photo.jpg", topk=3)             # or arrays, PIL images, lists of them
    r.top_labels[0], r.probs[0], r.maps[0]   # maps (N, k, H, W) float32 in [0, 1], the CLI's .npy
    for rec in eng.map("photos/"):           # any number of images, the CLI's pipeline and records
        print(rec["name"], rec.get("error") or rec["top"][0]["label"])

Every option has the name of the CLI's (--topk, --method, --class as `targets`, --alpha, --object-mask, ...).
Errors are cam_engine.Error with the CLI's one-line message: WeightsError, ImageError, OptionError.
"""
import json
import os
import warnings

import numpy as np

from . import _core
from ._core import Error, ImageError, OptionError, WeightsError

__all__ = ["Engine", "Result", "inputs", "from_torch", "from_keras", "Error", "WeightsError", "ImageError", "OptionError",
           "cuda_device_summary"]
__version__ = "0.1.0"

cuda_device_summary = _core.cuda_device_summary

_ENGINE_DEFAULTS = {"backend": "auto", "precision": "fp32", "threads": None, "device": 0, "input_size": None,
                    "resize": None, "resize_shorter": None, "jpeg_idct": None, "tuning_file": None, "quiet": True}


class Result:
    """One call's results, image i in row i:
    probs, logits   (N, classes) float32
    top             (N, P) int32, the most probable classes, best first (P = max(topk, predictions))
    top_labels      their labels
    maps            (N, M, H, W) float32 in [0, 1] at the network input size: per method, the top-k maps then
                    one per target class (M = methods x (topk + targets)), equal to the CLI's .npy
    map_classes     (N, M) int32, the class of each map
    peaks, boxes    (N, M, 2) x, y and (N, M, 4) x0, y0, x1, y1 in original-image pixels, -1 for an empty map
    records         per image the CLI's JSONL record (top, and per map peak, box, metrics, localisation)
    overlays        with overlays=True: per image a list of M uint8 (h, w, 3) images at the original size
    """

    def __init__(self, d, labels):
        self.probs, self.logits, self.top = d["probs"], d["logits"], d["top"]
        self.maps, self.map_classes = d["maps"], d["map_classes"]
        self.peaks, self.boxes = d["peaks"], d["boxes"]
        self.records = [json.loads(r) for r in d["records"]]
        self.overlays = d.get("overlays")
        self.top_labels = [[labels[c] for c in row] for row in self.top.tolist()]

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        return "<cam_engine.Result: %d images, maps %s>" % (len(self), tuple(self.maps.shape))


def _image_array(x, where):
    a = x
    if hasattr(x, "convert") and hasattr(x, "mode"):  # a PIL image
        a = np.asarray(x.convert("RGB"))
    elif not isinstance(x, np.ndarray):
        if hasattr(x, "__dlpack__") and getattr(x, "device", None) is not None and str(x.device) != "cpu":
            raise ImageError("%s: a tensor on %s; images are taken from host memory (.cpu() it)" % (where, x.device))
        a = np.asarray(x)
    if a.dtype != np.uint8:
        raise ImageError("%s: dtype %s; images are uint8 RGB (H, W, 3) or (N, H, W, 3) (network inputs: "
                         "Engine.run_tensor)" % (where, a.dtype))
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError("%s: shape %s; images are uint8 RGB (H, W, 3), batches (N, H, W, 3)" % (where, a.shape))
    return np.ascontiguousarray(a)


def _items(images):
    """The run's items: each path as bytes (os.fsencode), each image as a C-contiguous uint8 (H, W, 3)."""
    if isinstance(images, (str, bytes, os.PathLike)):
        return [os.fsencode(images)]
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return [_image_array(a, "image %d of the batch" % i) for i, a in enumerate(images)]
    if isinstance(images, np.ndarray) or hasattr(images, "mode") or hasattr(images, "__dlpack__"):
        return [_image_array(images, "image")]
    try:
        if isinstance(images, dict):
            raise TypeError
        listed = list(images)
    except TypeError:
        raise ImageError("images: a %s; give a path, a uint8 array, a PIL image or a list of them"
                         % type(images).__name__) from None
    items = []
    for i, x in enumerate(listed):
        if isinstance(x, (str, bytes, os.PathLike)):
            items.append(os.fsencode(x))
        else:
            items.append(_image_array(x, "image %d" % i))
    if not items:
        raise ImageError("no images given (an empty list)")
    return items


def _run_options(topk=1, method="cam", targets=None, maps=True, predictions=5, overlays=False, alpha=0.5,
                 colormap="jet", scorecam_channels=0, metrics=False, metric_steps=20, object_mask=None,
                 pointing_tolerance=0.0, batch=16, max_pixels=100_000_000, ignore_exif=False):
    methods = method.split(",") if isinstance(method, str) else list(method)
    if targets is None:
        targets = []
    elif isinstance(targets, (str, int, np.integer)):
        targets = [targets]
    if not maps:
        topk, targets = 0, []
    return {"topk": int(topk), "predictions": int(predictions), "classes": [str(t) for t in targets],
            "methods": [m.strip() for m in methods], "overlays": bool(overlays and maps), "image_weight": float(alpha),
            "colormap": colormap, "scorecam_channels": int(scorecam_channels), "metrics": bool(metrics),
            "metric_steps": int(metric_steps), "object_mask": object_mask or "",
            "pointing_tolerance": float(pointing_tolerance), "batch": int(batch), "max_pixels": int(max_pixels),
            "ignore_exif": bool(ignore_exif)}


class Engine:
    """A ResNet's weights on a backend, held like an ONNX Runtime InferenceSession.

    weights: a safetensors path (tools/convert.py converts others), or its bytes. backend: auto | cpu | cuda;
    precision: fp32 | tf32 | fp16 | bf16 (CUDA; on the CPU fp32, and bf16 where it has AVX512-BF16 or AMX); threads: CPU threads (None: all cores); input_size: (W, H) or
    N instead of the weights' own; resize: how images are resized to it (pil-bilinear, cv2-area, ...);
    resize_shorter: S resizes the shorter side to S and centre-crops the input (torchvision's Resize(S) +
    CenterCrop, timm's eval transform), 0 stretches; the maps then cover the crop, whose part of the photo each
    record gives as map_region (peaks and boxes are in the photo's pixels either way); jpeg_idct: "fast" decodes
    JPEG files as TensorFlow's decode_jpeg does by default (image_dataset_from_directory), "accurate" as PIL.
    Raises WeightsError for weights it cannot run, OptionError for impossible options.
    """

    def __init__(self, weights, backend="auto", precision="fp32", threads=None, device=0, input_size=None,
                 resize=None, resize_shorter=None, jpeg_idct=None, tuning_file=None, quiet=True):
        if isinstance(input_size, (int, np.integer)):
            input_size = (int(input_size), int(input_size))
        self._options = {"backend": backend, "precision": precision, "threads": threads, "device": device,
                         "input_size": None if input_size is None else [int(v) for v in input_size],
                         "resize": resize, "resize_shorter": resize_shorter, "jpeg_idct": jpeg_idct,
                         "tuning_file": tuning_file, "quiet": quiet}
        self._weights = weights
        core_options = dict(self._options, threads=int(threads or 0), tuning_file=tuning_file or "")
        if isinstance(weights, (bytes, bytearray, memoryview)):
            self._handle = _core.make_engine(bytes(weights), True, "<weights in memory>", core_options)
        else:
            self._handle = _core.make_engine(os.fsencode(weights), False, "", core_options)
        self.info = dict(json.loads(_core.info_json(self._handle)), precision=precision)
        self.labels = self.info["labels"]

    def __call__(self, images, **options):
        """Predictions and maps of `images`: a path, a uint8 (H, W, 3) RGB array or (N, H, W, 3) batch, a PIL
        image, or a list of any of them (any sizes). Options as the CLI's: topk, method ("cam", "gradcam",
        "gradcam++", "scorecam", "eigencam" or several, comma-separated or a list), targets (--class: labels or
        indices), maps, predictions, overlays, alpha, colormap, scorecam_channels, metrics, metric_steps,
        object_mask ("white", "boxes:FILE", "masks:DIR"), pointing_tolerance, batch, max_pixels, ignore_exif.
        Returns a Result. Raises ImageError naming a path that cannot be read or an array that is no image."""
        return Result(_core.run(self._handle, _items(images), _run_options(**options)), self.labels)

    def run_tensor(self, inputs, layout="NCHW", **options):
        """The same from network inputs already preprocessed (float32, normalised as the weights' preprocess
        says, at the engine's input size): (N, 3, H, W) as a PyTorch model takes them, or layout="NHWC".
        No overlays (there is no image to blend over); peaks and boxes are in input pixels."""
        a = np.asarray(inputs.detach().cpu() if hasattr(inputs, "detach") else inputs)
        if a.ndim != 4 or a.shape[1 if layout == "NCHW" else 3] != 3:
            raise OptionError("inputs: shape %s; expected (N, 3, H, W) (layout NCHW) or (N, H, W, 3) (NHWC)"
                              % (a.shape,))
        a = a.transpose(0, 2, 3, 1) if layout == "NCHW" else a
        return Result(_core.run_inputs(self._handle, np.ascontiguousarray(a, dtype=np.float32),
                                       _run_options(**options)), self.labels)

    def map(self, inputs, labels_from_folders=False, io_threads=None, out=None, raw=False, panel=False,
            format="png", out_size="original", **options):
        """A generator over any number of images, in order, through the CLI's overlapped pipeline with its
        memory bound: `inputs` is a folder, a list file or an image path (the CLI's arguments), a list of
        image paths, or items of cam_engine.inputs() (any share of them: each keeps the name and truth the
        whole list gave it). Yields per image the CLI's record (path, name, truth, top, maps with peak and box ...),
        with "arrays": {"probs", "logits", "maps" (M, H, W)}; an image that cannot be read yields
        {"path", "name", "error"} and the run goes on. Options as for __call__ (but overlays).
        With out=DIR each image's files are written under DIR as the CLI writes them (an overlay per map, and
        with raw=True the .npy, with panel=True the captioned panel; format png | jpg, out_size as --out-size)
        and its record names them; predictions.jsonl is the caller's (examples/ray_cam.py writes it)."""
        if isinstance(inputs, (str, bytes, os.PathLike)):
            paths, as_arguments = [os.fsencode(inputs)], True
        else:
            paths, as_arguments = [_item_or_path(p) for p in inputs], False
        files = {} if out is None else {"out": os.fsdecode(out), "raw": bool(raw), "panel": bool(panel),
                                          "format": str(format), "out_size": str(out_size)}
        stream = _core.Stream(self._handle, paths, as_arguments, labels_from_folders, _run_options(**options),
                              files, int(io_threads or 0))
        for note in stream.notes:  # what the CLI warns about: a folder without images, unreadable folders
            warnings.warn("cam_engine: " + note, stacklevel=2)
        return self._records(stream)

    @staticmethod
    def _records(stream):
        try:
            while True:
                batch = stream.next()
                if batch is None:
                    return
                row = 0
                for text in batch["records"]:
                    record = json.loads(text)
                    if "error" not in record:
                        record["arrays"] = {"probs": batch["probs"][row], "logits": batch["logits"][row],
                                            "maps": batch["maps"][row]}
                        row += 1
                    yield record
        finally:
            stream.close()

    def run_record(self, labels_from_folders=False, out="cam_out", raw=False, panel=False, format="png",
                   out_size="original", **options):
        """What the CLI writes to OUT/run.json for a run with these options (Engine.map's), as a dict: the
        options --resume and merge compare, and the report's run details ("details"). A run split among
        workers (examples/ray_cam.py) writes it with write_run_files. Needs the weights as a path."""
        if not isinstance(self._weights, (str, os.PathLike)):
            raise OptionError("run_record: the engine's weights came as bytes; run.json names a weights file")
        files = {"out": os.fsdecode(out), "raw": bool(raw), "panel": bool(panel), "format": str(format),
                 "out_size": str(out_size)}
        return json.loads(_core.run_record(self._handle, os.fsdecode(self._weights), self._options["precision"],
                                           _run_options(**options), files, bool(labels_from_folders)))

    def class_index(self, name):
        """The index of a label or of a decimal index, as --class takes it; OptionError names the nearest."""
        return _core.class_index(self._handle, str(name))

    def close(self):
        """Frees the engine's memory now; later calls raise Error."""
        self._handle.close()

    @property
    def closed(self):
        return self._handle.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):  # pickles as its weights (a path, or the bytes) and options
        return (_restore, (self._weights, self._options))

    def __repr__(self):
        return "<cam_engine.Engine %s on %s, input %dx%d%s>" % (
            self.info["architecture"], self.info["backend"], *self.info["input_size"], ", closed" if self.closed else "")


def inputs(args, labels_from_folders=False):
    """The images the CLI would process for `args` (folders, list files, image paths; one or a list), in its
    order: a list of {"path", "name", "truth"} (bytes, as the file system and the list files give them), the
    name being the CLI's collision-free output name. Engine.map takes any share of the list, so a list split
    among workers (examples/ray_cam.py) gives the records one CLI run over all of it gives."""
    args = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
    items, notes = _core.collect_inputs([os.fsencode(a) for a in args], bool(labels_from_folders))
    for note in notes:
        warnings.warn("cam_engine: " + note, stacklevel=2)
    return [{"path": p, "name": n, "truth": t} for p, n, t in items]


def write_run_files(out, record, this_run="", csv=False, report=False):
    """Writes out/run.json from `record` (Engine.run_record's) and, from out/predictions.jsonl, the CLI's
    --csv predictions.csv and --report index.html (its run details are the record's, with the date and
    `this_run`), by the CLI's code: what a run split among workers writes once every record is in."""
    _core.write_run_files(os.fsdecode(out), json.dumps(record), str(this_run), bool(csv), bool(report))


def _item_or_path(x):
    if isinstance(x, dict):
        return tuple(os.fsencode(x[k]) for k in ("path", "name", "truth"))
    return os.fsencode(x)


def _restore(weights, options):
    return Engine(weights, **options)


def _converters():
    from . import converters

    return converters.convert


def _input_size_hw(input_size):
    if input_size is None:
        return None
    w, h = (input_size, input_size) if isinstance(input_size, (int, np.integer)) else input_size
    return [int(h), int(w)]


def _engine_from(tensors, meta, labels, fmt, preprocess, input_size, resize, source, engine_options):
    convert = _converters()
    meta = convert.engine_metadata(meta, fmt, preprocess, _input_size_hw(input_size), resize, source)
    classes = tensors["fc.weight"].shape[0]
    if labels is not None:
        labels = [str(x) for x in labels]
        if len(labels) != classes:
            raise OptionError("%d labels for %d classes (rows of the classifier)" % (len(labels), classes))
        meta["labels"] = json.dumps(labels)
    return Engine(convert.safetensors_io.to_bytes(tensors, meta), **engine_options)


def from_torch(model, input_size=None, labels=None, preprocess=None, resize=None, **engine_options):
    """An Engine from a live torchvision/timm ResNet (or its state_dict), converted in memory by
    tools/convert.py's own mapping. A timm model brings its pretrained_cfg's eval transform (mean, std,
    input size, interpolation, Resize(size / crop_pct) + CenterCrop), as timm.data.resolve_data_config reads
    it; otherwise torchvision's mean/std at 224, resized pil-bilinear. input_size: N or (W, H) instead (timm's
    crop_pct kept); preprocess: a dict like convert.py's; resize: a --resize mode. Raises WeightsError for a
    model that is not a ResNet the engine runs."""
    convert = _converters()
    try:
        tensors, meta, embedded = convert.tensors_from_torch(model, type(model).__name__)
        return _engine_from(tensors, meta, labels if labels is not None else embedded, "pytorch", preprocess,
                            input_size, resize, "cam_engine.from_torch(%s)" % type(model).__name__, engine_options)
    except convert.ConversionError as e:
        raise WeightsError(str(e)) from None


def from_keras(model, input_size=224, labels=None, preprocess=None, resize=None, **engine_options):
    """An Engine from a live Keras ResNet50 (Keras 3 or tf_keras), saved to a temporary file and read by
    tools/convert.py's Keras reader. Default preprocess keras-caffe, resize pil-nearest (load_img's)."""
    import tempfile

    convert = _converters()
    keras2 = type(model).__module__.startswith("tf_keras")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.h5" if keras2 else "model.keras")
        model.save(path)
        try:
            tensors, meta, embedded = convert.from_keras(path)
        except convert.ConversionError as e:
            raise WeightsError(str(e)) from None
    return _engine_from(tensors, meta, labels if labels is not None else embedded, "keras", preprocess,
                        input_size, resize, "cam_engine.from_keras(%s)" % model.name, engine_options)
