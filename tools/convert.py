#!/usr/bin/env python3
"""Converts a ResNet from PyTorch, Keras or ONNX into an engine-ready safetensors file (torchvision names).

  convert.py model.pth -o model.safetensors --labels-from-dataset Fruits360/Training
  convert.py resnet50_fruits.keras -o model.safetensors --labels labels.txt  (Keras 2 .h5, Keras 3 .keras / .weights.h5)
  convert.py model.onnx -o model.safetensors --labels labels.txt --input-size 100

Sources: a PyTorch state_dict or pickled model (torchvision or timm names; the "module.", "_orig_mod." and "model."
prefixes of DataParallel, torch.compile and wrappers stripped; a whole pickled model only with --trust-pickle), a
Keras applications.ResNet50 backbone with a GAP head (v1: conv biases, stride in the first 1x1, BN eps 1.001e-5,
HWIO kernels), or an ONNX export of a plain ResNet (BN possibly folded into conv biases). Heads: one Linear (classic
CAM) or an MLP GAP -> (Linear -> ReLU [-> Dropout])* -> Linear, written as head.0, head.1, ... and fc.
Metadata: labels, preprocess (torchvision | keras-caffe | JSON), source, stride_in_1x1, bn_eps, and
replace_stride_with_dilation (torchvision's option: read from a whole pickled model's layer2..4, or given with
--replace-stride-with-dilation for a state_dict, whose tensors cannot show it; ONNX and Keras sources are plain).
--check runs the source (PyTorch here; Keras/ONNX sources are re-run through PyTorch from the converted tensors
with their own semantics) and the engine's cam_engine on the same random images, and fails above the bounds.
Runs with Debian's /usr/bin/python3 (python3-torch, python3-h5py, python3-onnx, python3-numpy).
"""
import argparse
import json
import os
import re
import sys

import numpy as np

if __package__:  # cam_engine.converters, in the Python package (cam_engine.from_torch)
    from . import safetensors_io
else:  # tools/convert.py
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import safetensors_io  # noqa: E402

PREPROCESS = {
    "torchvision": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": 1 / 255, "channel_order": "RGB"},
    "keras-caffe": {"mean": [103.939, 116.779, 123.68], "std": [1.0, 1.0, 1.0], "scale": 1.0, "channel_order": "BGR"},
}


class ConversionError(Exception):
    pass


# ---------------------------------------------------------------- heads shared by every source

def write_head(out, linears, where):
    """linears: [(weight (out, in), bias)] in order; the last is the classifier."""
    if not linears:
        raise ConversionError("%s: no classifier (Linear/Dense) layer found after the pooling" % where)
    for i, (w, b) in enumerate(linears[:-1]):
        out["head.%d.weight" % i], out["head.%d.bias" % i] = w, b
    out["fc.weight"], out["fc.bias"] = linears[-1]
    for (w, _), (w2, _) in zip(linears, linears[1:]):
        if w2.shape[1] != w.shape[0]:
            raise ConversionError("%s: head layers do not chain (%s then %s)" % (where, w.shape, w2.shape))


# ---------------------------------------------------------------- PyTorch

WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")  # DataParallel/DDP, torch.compile, Lightning and timm EMA


def load_torch(path, trust_pickle):
    """torch.load with weights_only=True (tensors and plain containers only); a whole pickled model needs its
    classes unpickled, which runs code from the file, so only with --trust-pickle."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if trust_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        m = re.search(r"(?:GLOBAL|Unsupported class) ([\w.]+)", str(e))
        raise ConversionError("%s: a whole pickled model (class %s); loading it runs code from the file: if you trust "
                              "it, add --trust-pickle (or save model.state_dict() instead)" % (
                                  path, m.group(1) if m else "unknown"))


def strip_wrapper_prefixes(sd):
    """Removes the prefixes that wrappers put before every key, in any combination ('module._orig_mod.')."""
    stripped = True
    while stripped and sd:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                stripped = True
    return sd


def pil_filter_mode(name):
    """The engine's mode for PIL filter `name` (bilinear, bicubic) as the Pillow installed here runs it: Pillow 13
    chose the order of its two passes, earlier versions ran the horizontal one first (the pil12 modes). The
    converter runs where the model was trained, so its Pillow is the training pipeline's."""
    try:
        import PIL
        major = int(PIL.__version__.split(".")[0])
    except (ImportError, ValueError):
        major = 13
    return ("pil-%s" if major >= 13 else "pil12-%s") % name


TIMM_INTERPOLATION = ("bilinear", "bicubic", "nearest")


def preprocess_from_timm_cfg(cfg, where):
    """timm's eval transform (resolve_data_config / create_transform) from a pretrained_cfg: mean, std, the
    input size, the PIL interpolation and, for crop_mode 'center' with crop_pct < 1, Resize(floor(size /
    crop_pct)) + CenterCrop(size) as resize_shorter. Returns the preprocess dict and a sentence saying so."""
    h, w = [int(v) for v in cfg.get("input_size", (3, 224, 224))[1:]]
    interpolation = cfg.get("interpolation", "bilinear")
    if interpolation not in TIMM_INTERPOLATION:
        raise ConversionError("%s: pretrained_cfg interpolation '%s' is not one the engine reproduces (%s)" % (
            where, interpolation, ", ".join(TIMM_INTERPOLATION)))
    pre = {"mean": [float(v) for v in cfg.get("mean", PREPROCESS["torchvision"]["mean"])],
           "std": [float(v) for v in cfg.get("std", PREPROCESS["torchvision"]["std"])],
           "scale": 1 / 255, "channel_order": "RGB", "input_size": [h, w],
           "resize": "pil-nearest" if interpolation == "nearest" else pil_filter_mode(interpolation)}
    crop_pct, mode = float(cfg.get("crop_pct", 0.875)), cfg.get("crop_mode", "center")
    crop = ""
    if crop_pct < 1 and mode == "center":
        pre["crop_pct"] = crop_pct
        crop = ", Resize(%d) + CenterCrop(%d) (crop_pct %g)" % (int(np.floor(h / crop_pct)), h, crop_pct)
    elif crop_pct < 1:
        raise ConversionError("%s: timm crop_mode '%s' is not reproduced (only 'center')" % (where, mode))
    return pre, "preprocess from timm's pretrained_cfg: %dx%d, %s%s, mean %s, std %s" % (
        w, h, interpolation, crop, pre["mean"], pre["std"])


def timm_cfg_beside(path):
    """The pretrained_cfg of timm's save_for_hf / push_to_hub layout: config.json beside the weights."""
    config = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    if not os.path.isfile(config):
        return None
    with open(config) as f:
        try:
            cfg = json.load(f)
        except ValueError:
            return None
    return cfg.get("pretrained_cfg") if isinstance(cfg, dict) else None


def from_pytorch(path, trust_pickle=False):
    tensors, meta, labels = tensors_from_torch(load_torch(path, trust_pickle), path)
    cfg = timm_cfg_beside(path)
    if cfg and "preprocess" not in meta:
        meta["preprocess"], meta["preprocess_note"] = preprocess_from_timm_cfg(cfg, path)
    return tensors, meta, labels


def tensors_from_torch(obj, path):
    """A state_dict, a checkpoint dict holding one, or a torch.nn.Module -> (tensors, metadata, labels or None);
    `path` names the source in messages."""
    import torch

    labels = None
    module = obj if isinstance(obj, torch.nn.Module) else None
    if isinstance(obj, dict):
        for key in ("labels", "classes", "class_names"):
            if isinstance(obj.get(key), (list, tuple)):
                labels = [str(x) for x in obj[key]]
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj:
                obj = obj[key]
                break
        if isinstance(obj, torch.nn.Module):
            module = obj
    meta = {}
    if module is not None:
        for attr in ("labels", "classes", "class_names"):
            if labels is None and isinstance(getattr(module, attr, None), (list, tuple)):
                labels = [str(x) for x in getattr(module, attr)]
        check_module_head(module)
        if isinstance(getattr(module, "pretrained_cfg", None), dict):
            meta["preprocess"], meta["preprocess_note"] = preprocess_from_timm_cfg(module.pretrained_cfg, path)
        dilation = module_dilation(module)
        if any(dilation):
            meta["replace_stride_with_dilation"] = json.dumps(dilation)
        obj = module.state_dict()
    if not isinstance(obj, dict):
        raise ConversionError("%s: neither a state_dict nor a torch.nn.Module" % path)
    sd = strip_wrapper_prefixes({k: v for k, v in obj.items() if hasattr(v, "numpy")})
    if "conv1.weight" not in sd and "conv1.0.weight" not in sd:
        raise ConversionError("%s: not a torchvision/timm ResNet layout: no 'conv1.weight' among its %d tensors (%s%s; "
                              "prefixes %s are stripped when every key has them)" % (
                                  path, len(sd), ", ".join(list(sd)[:6]), ", ..." if len(sd) > 6 else "",
                                  " ".join(WRAPPER_PREFIXES)))
    out, linears = {}, {}
    for k, v in sd.items():
        a = v.detach().float().numpy() if v.is_floating_point() else None
        if k.endswith("num_batches_tracked") or a is None:
            continue
        m = re.match(r"(fc|head|classifier)\.(?:(\d+)\.)?(weight|bias)$", k)
        if m:
            index = int(m.group(2)) if m.group(2) is not None else 0
            linears.setdefault((m.group(1), index), {})[m.group(3)] = a
        elif re.match(r"(fc|head|classifier)\.", k):
            raise ConversionError("%s: head tensor '%s' is not part of Linear -> ReLU [-> Dropout] layers" % (path, k))
        else:
            out[k] = a
    ordered = []
    for key in sorted(linears, key=lambda t: ({"head": 0, "fc": 1, "classifier": 1}[t[0]], t[1])):
        p = linears[key]
        if p.get("weight") is None or p["weight"].ndim != 2:
            raise ConversionError("%s: head layer %s.%d is not a Linear layer (weight %s)" % (path, key[0], key[1],
                                  None if p.get("weight") is None else p["weight"].shape))
        ordered.append((p["weight"], p.get("bias", np.zeros(p["weight"].shape[0], np.float32))))
    write_head(out, ordered, path)
    return out, meta, labels


def module_dilation(module):
    """torchvision's replace_stride_with_dilation of a whole model: layer2..layer4 whose first block does not
    stride (its 3x3 conv, or a v1 block's first 1x1, has stride 1) were dilated instead."""
    flags = []
    for s in (2, 3, 4):
        first = getattr(module, "layer%d" % s, [None])[0]
        strides = [m.stride[0] for m in (getattr(first, "conv1", None), getattr(first, "conv2", None)) if m is not None]
        flags.append(bool(strides) and max(strides) == 1)
    return flags


def dilation_flags(text):
    flags = [f.strip().lower() for f in text.split(",")]
    if len(flags) != 3 or any(f not in ("true", "false") for f in flags):
        raise argparse.ArgumentTypeError("expected three of true/false for layer2,layer3,layer4, e.g. false,false,true")
    return [f == "true" for f in flags]


def check_module_head(module):
    """With a whole model the head's modules can be checked: Linear, ReLU, Dropout, Flatten/Identity only."""
    import torch.nn as nn

    head = getattr(module, "fc", None)
    if isinstance(head, nn.Sequential):
        for m in head:
            if not isinstance(m, (nn.Linear, nn.ReLU, nn.Dropout, nn.Identity, nn.Flatten)):
                raise ConversionError("head module %s is not Linear/ReLU/Dropout: only GAP -> (Linear -> ReLU "
                                      "[-> Dropout])* -> Linear heads have a closed-form Grad-CAM" % type(m).__name__)


# ---------------------------------------------------------------- Keras

def from_keras(path):
    if __package__:
        from . import keras_reader
    else:
        import keras_reader

    try:
        layers, activations = keras_reader.read(path)
    except keras_reader.KerasFileError as e:
        raise ConversionError(str(e))
    out, dense = {}, []
    for lname, v in layers:
        if lname == "conv1_conv":
            conv, bn = "conv1", None
        elif lname == "conv1_bn":
            conv, bn = None, "bn1"
        else:
            m = re.match(r"conv(\d)_block(\d+)_(\d)_(conv|bn)$", lname)
            if m:
                stage, block, index, kind = int(m.group(1)) - 1, int(m.group(2)) - 1, int(m.group(3)), m.group(4)
                base = "layer%d.%d." % (stage, block)
                name = base + ("downsample.0" if index == 0 else "conv%d" % index) if kind == "conv" else \
                    base + ("downsample.1" if index == 0 else "bn%d" % index)
                conv, bn = (name, None) if kind == "conv" else (None, name)
            elif "kernel" in v and v["kernel"].ndim == 2:
                dense.append((lname, v))
                continue
            else:
                raise ConversionError("%s: layer '%s' does not fit Keras applications.ResNet50 (expected conv1_*, "
                                      "convS_blockB_I_{conv,bn} or Dense layers)" % (path, lname))
        if conv:
            out[conv + ".weight"] = np.ascontiguousarray(v["kernel"].transpose(3, 2, 0, 1))  # HWIO -> OIHW
            if "bias" in v:
                out[conv + ".bias"] = v["bias"]
        else:
            out[bn + ".weight"], out[bn + ".bias"] = v["gamma"], v["beta"]
            out[bn + ".running_mean"], out[bn + ".running_var"] = v["moving_mean"], v["moving_variance"]
    # Dense layers in chain order: the first takes the pooled features, each next takes the previous outputs.
    chain, dim = [], out["layer4.0.conv3.weight"].shape[0] if "layer4.0.conv3.weight" in out else None
    remaining = list(dense)
    while remaining:
        nxt = next((d for d in remaining if dim is None or d[1]["kernel"].shape[0] == dim), None)
        if nxt is None:
            raise ConversionError("%s: Dense layers %s do not chain from %s features" % (path, [d[0] for d in remaining], dim))
        remaining.remove(nxt)
        chain.append((np.ascontiguousarray(nxt[1]["kernel"].T), nxt[1].get("bias", np.zeros(nxt[1]["kernel"].shape[1], np.float32))))
        dim = nxt[1]["kernel"].shape[1]
    write_head(out, chain, path)
    check_dense_activations(activations, len(chain), path)
    return out, {"stride_in_1x1": "true", "bn_eps": "1.001e-05"}, None


def check_dense_activations(activations, count, path):
    """The engine's head is (Linear -> ReLU)* -> Linear -> softmax: a config saying otherwise is refused."""
    if activations is None:
        print("convert.py: %s has no model config (weights only): hidden Dense layers are taken to use ReLU and the "
              "last one softmax" % path, file=sys.stderr)
        return
    if len(activations) != count:
        raise ConversionError("%s: the config has %d Dense layers, the weights %d" % (path, len(activations), count))
    for i, (name, act) in enumerate(activations):
        last = i == count - 1
        if (last and act not in ("softmax", "linear")) or (not last and act != "relu"):
            raise ConversionError("%s: Dense layer '%s' has activation '%s'; the engine's head takes ReLU between "
                                  "Dense layers and softmax (or linear) after the last" % (path, name, act))


# ---------------------------------------------------------------- ONNX

def from_onnx(path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    g = model.graph
    init = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in g.initializer}
    # Constants reach the layers as initializers, Constant nodes, or Identity copies of either (the TorchScript
    # exporter shares equal initializers through Identity nodes); all of them count as constant inputs.
    nodes = []
    for node in g.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            init[node.output[0]] = numpy_helper.to_array(node.attribute[0].t).astype(np.float32)
        elif node.op_type == "Identity" and node.input[0] in init:
            init[node.output[0]] = init[node.input[0]]
        else:
            nodes.append(node)
    consumers = {}
    for node in nodes:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    attrs = lambda n: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}  # noqa: E731
    out, meta = {}, {}

    def fail(node, expected):
        raise ConversionError("%s: node '%s' (%s) does not fit a plain ResNet: expected %s" % (path, node.name, node.op_type, expected))

    def only(tensor, expected):
        users = consumers.get(tensor, [])
        if len(users) != 1:
            raise ConversionError("%s: tensor '%s' feeds %d nodes where %s was expected" % (path, tensor, len(users), expected))
        return users[0]

    def conv(node, name, kernel, stride=None):
        """Conv [-> BatchNormalization]; returns (output tensor, stride)."""
        if node.op_type != "Conv":
            fail(node, "Conv")
        a = attrs(node)
        w = init.get(node.input[1])
        if w is None or w.shape[2] != kernel or a.get("group", 1) != 1 or a.get("dilations", [1, 1]) != [1, 1]:
            fail(node, "a %dx%d Conv with constant weights" % (kernel, kernel))
        s = a.get("strides", [1, 1])[0]
        pads = a.get("pads", [0, 0, 0, 0])
        if pads != [kernel // 2] * 4 or (stride is not None and s != stride):
            fail(node, "%dx%d Conv, padding %d%s" % (kernel, kernel, kernel // 2, "" if stride is None else ", stride %d" % stride))
        out[name + ".weight"] = w
        if len(node.input) > 2:
            out[name + ".bias"] = init[node.input[2]]
        y = node.output[0]
        users = consumers.get(y, [])
        if len(users) == 1 and users[0].op_type == "BatchNormalization":
            bn = users[0]
            bname = name.replace("conv", "bn") if "downsample" not in name else name[:-1] + "1"
            bname = "bn1" if name == "conv1" else bname
            for suffix, i in (("weight", 1), ("bias", 2), ("running_mean", 3), ("running_var", 4)):
                if bn.input[i] not in init:
                    fail(bn, "BatchNormalization with constant parameters")
                out["%s.%s" % (bname, suffix)] = init[bn.input[i]]
            meta["bn_eps"] = repr(attrs(bn).get("epsilon", 1e-5))
            y = bn.output[0]
        return y, s

    def relu_after(tensor, expected):
        node = only(tensor, expected)
        if node.op_type != "Relu":
            fail(node, "Relu")
        return node.output[0]

    stem = only(g.input[0].name, "the stem Conv")
    x, _ = conv(stem, "conv1", 7, 2)
    x = relu_after(x, "Relu after the stem")
    pool = only(x, "MaxPool")
    if pool.op_type != "MaxPool" or attrs(pool).get("kernel_shape") != [3, 3] or attrs(pool).get("strides") != [2, 2]:
        fail(pool, "MaxPool 3x3 stride 2")
    x = pool.output[0]
    stage, block = 0, 0
    while True:
        users = consumers.get(x, [])
        if len(users) == 1 and users[0].op_type in ("GlobalAveragePool", "ReduceMean"):
            break
        convs = [u for u in users if u.op_type == "Conv"]
        adds = [u for u in users if u.op_type == "Add"]
        # main path conv1: the Conv whose output goes to Relu
        main = [c for c in convs if consumers.get(c.output[0], [None])[0] is not None and
                any(n.op_type in ("Relu", "BatchNormalization") for n in consumers[c.output[0]])]
        down = None
        if len(convs) == 2:
            # the downsample conv's result (after an optional BN) goes straight into the Add
            def to_add(c):
                nxt = consumers[c.output[0]][0]
                if nxt.op_type == "BatchNormalization":
                    nxt = consumers[nxt.output[0]][0]
                return nxt.op_type == "Add"
            down = next((c for c in convs if to_add(c)), None)
            main = [c for c in convs if c is not down]
        if len(main) != 1 or (down is None and len(adds) != 1):
            fail(users[0], "a residual block (Conv path + identity or downsample Conv into an Add)")
        if down is not None:
            stage, block = stage + 1, 0
        elif stage == 0:
            stage, block = 1, 0
        prefix = "layer%d.%d." % (stage, block)
        strides = []
        y, s = conv(main[0], prefix + "conv1", int(init[main[0].input[1]].shape[2]))
        strides.append(s)
        index = 1
        while True:
            nxt = only(y, "Relu or Add")
            if nxt.op_type == "Add":
                add = nxt
                break
            y = relu_after(y, "Relu") if nxt.op_type == "Relu" else fail(nxt, "Relu or Add")
            index += 1
            c = only(y, "Conv")
            y, s = conv(c, prefix + "conv%d" % index, int(init[c.input[1]].shape[2]))
            strides.append(s)
        if down is not None:
            dy, ds = conv(down, prefix + "downsample.0", 1)
            if dy not in add.input:
                fail(add, "Add of the main path and the downsample branch")
        elif x not in add.input:
            fail(add, "Add of the main path and the block input")
        if index == 3 and max(strides) == 2:
            meta["stride_in_1x1"] = "true" if strides[0] == 2 else "false"
        x = relu_after(add.output[0], "Relu after the residual Add")
        block += 1
    node = only(x, "pooling")
    x = node.output[0]
    node = only(x, "Flatten")
    if node.op_type in ("Flatten", "Reshape"):
        x = node.output[0]
        node = only(x, "Gemm")
    linears = []
    while True:
        if node.op_type != "Gemm":
            fail(node, "Gemm (Linear)")
        a = attrs(node)
        w = init[node.input[1]]
        w = w if a.get("transB", 0) else w.T
        linears.append((np.ascontiguousarray(w * a.get("alpha", 1.0)), init[node.input[2]] * a.get("beta", 1.0)))
        users = consumers.get(node.output[0], [])
        if not users:
            break
        if len(users) != 1 or users[0].op_type != "Relu":
            fail(users[0], "Relu between head layers (or the graph's output)")
        node = only(users[0].output[0], "Gemm")
        if node.op_type == "Dropout":
            node = only(node.output[0], "Gemm")
    write_head(out, linears, path)
    return out, meta, None


# ---------------------------------------------------------------- main

def read_labels(args, tensors, embedded):
    if args.labels:
        with open(args.labels) as f:
            labels = [line.rstrip("\n") for line in f if line.strip()]
    elif args.labels_from_dataset:
        labels = sorted(d for d in os.listdir(args.labels_from_dataset) if os.path.isdir(os.path.join(args.labels_from_dataset, d)))
    else:
        labels = embedded
    classes = tensors["fc.weight"].shape[0]
    if labels is not None and len(labels) != classes:
        raise ConversionError("%d labels for %d classes (rows of the classifier)" % (len(labels), classes))
    return labels


def input_size(text):
    """WxH or N (N x N), as cam_engine --input-size takes it; returns [H, W] for the metadata."""
    parts = text.split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts) or not all(8 <= int(p) <= 4096 for p in parts):
        raise argparse.ArgumentTypeError("must be WxH or N (8..4096), e.g. 224x224 or 224, got '%s'" % text)
    w, h = int(parts[0]), int(parts[-1])
    return [h, w]


def default_resize(fmt):
    """The resize the source's own loading applies by default: Keras' load_img and flow_from_directory resize
    with nearest; torchvision's Resize with bilinear, as the Pillow here runs it (pil-bilinear from Pillow 13 on,
    pil12-bilinear before)."""
    return "pil-nearest" if fmt == "keras" else pil_filter_mode("bilinear")


def engine_metadata(meta, fmt, preprocess, input_size, resize, source, jpeg_idct=None):
    """The converted file's metadata: `meta` from the source, with the preprocess (a dict; None: the one the
    source carries, timm's pretrained_cfg, else the source's usual one) at input_size [H, W] (None: the
    preprocess's, else 224), resized by `resize` (None: the preprocess's, else the source's default), and the
    source's description, and jpeg_idct when given. timm's crop_pct becomes resize_shorter = floor(size / crop_pct) at the input size,
    as resolve_data_config does for another input size."""
    meta = dict(meta)
    carried = meta.pop("preprocess", None)
    meta.pop("preprocess_note", None)
    pre = dict(preprocess or carried or PREPROCESS["keras-caffe" if fmt == "keras" else "torchvision"])
    pre["input_size"] = input_size or pre.get("input_size") or [224, 224]
    crop_pct = pre.pop("crop_pct", None)
    if crop_pct:
        if pre["input_size"][0] != pre["input_size"][1]:
            raise ConversionError("timm's non-square centre crop (ResizeKeepRatio) is not reproduced: give a square "
                                  "--input-size, or --preprocess without crop_pct")
        pre["resize_shorter"] = int(np.floor(pre["input_size"][0] / crop_pct))
    if resize:
        pre["resize"] = resize
    elif "resize" not in pre:
        pre["resize"] = default_resize(fmt)
    if jpeg_idct:
        pre["jpeg_idct"] = jpeg_idct
    return dict(meta, preprocess=json.dumps(pre), source=source)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--format", choices=["auto", "pytorch", "keras", "onnx"], default="auto")
    ap.add_argument("--labels", help="text file, one label per line, in class-index order")
    ap.add_argument("--labels-from-dataset", metavar="DIR",
                    help="the label list from a dataset's class folders, sorted (ImageFolder / flow_from_directory order)")
    ap.add_argument("--preprocess", help="torchvision | keras-caffe | a JSON object (default: by source)")
    ap.add_argument("--input-size", type=input_size,
                    help="WxH or N (default: timm's pretrained_cfg input size, else 224)")
    ap.add_argument("--resize", choices=["pil-bilinear", "pil12-bilinear", "pil-bicubic", "pil12-bicubic", "pil-nearest",
                                             "cv2-linear", "cv2-area", "tf-bilinear", "tf-bilinear-antialias"],
                    help="how the model's images were resized to the input (stored in the preprocess metadata; "
                         "the engine's default is pil-bilinear, torchvision's; Keras load_img's is pil-nearest, "
                         "image_dataset_from_directory's tf-bilinear)")
    ap.add_argument("--jpeg-idct", choices=["accurate", "fast"],
                    help="how the model's JPEGs were decoded: accurate (PIL's, OpenCV's; the default) or fast "
                         "(TensorFlow's decode_jpeg default: image_dataset_from_directory, with --resize tf-bilinear)")
    ap.add_argument("--replace-stride-with-dilation", type=dilation_flags, metavar="F,F,T",
                    help="torchvision's option of that name for layer2,layer3,layer4, for a state_dict of such a model "
                         "(a whole pickled model says it itself)")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="load a whole pickled PyTorch model (torch.save(model)): unpickling runs code from the file, "
                         "so only for files you trust; a state_dict needs no trust")
    ap.add_argument("--check", action="store_true", help="compare the source and the engine on random images")
    ap.add_argument("--engine", help="cam_engine binary for --check (default: build/cam_engine, then PATH)")
    args = ap.parse_args()
    fmt = args.format
    if fmt == "auto":
        low = args.source.lower()
        fmt = "keras" if low.endswith((".h5", ".hdf5", ".keras")) else "onnx" if low.endswith(".onnx") else "pytorch"
    try:
        if fmt == "pytorch":
            tensors, meta, embedded = from_pytorch(args.source, args.trust_pickle)
        else:
            tensors, meta, embedded = {"keras": from_keras, "onnx": from_onnx}[fmt](args.source)
        labels = read_labels(args, tensors, embedded)
        pre = dict(PREPROCESS[args.preprocess]) if args.preprocess in PREPROCESS else (
            json.loads(args.preprocess) if args.preprocess else None)
        timm_cfg = pre is None and "preprocess_note" in meta
        if timm_cfg:
            print("convert.py: %s (--preprocess, --input-size, --resize to choose others)" % meta["preprocess_note"])
        elif args.resize is None and (pre is None or "resize" not in pre):
            print("convert.py: resize %s, %s's default (--resize to choose another)" % (
                default_resize(fmt), "Keras load_img" if fmt == "keras" else "torchvision Resize"))
        meta = engine_metadata(meta, fmt, pre, args.input_size, args.resize,
                               "tools/convert.py from %s (%s)" % (os.path.basename(args.source), fmt), args.jpeg_idct)
        if args.replace_stride_with_dilation is not None:
            if fmt != "pytorch":
                raise ConversionError("--replace-stride-with-dilation is for PyTorch sources (%s ResNets are plain)" % fmt)
            if "replace_stride_with_dilation" in meta and json.loads(meta["replace_stride_with_dilation"]) != args.replace_stride_with_dilation:
                raise ConversionError("--replace-stride-with-dilation %s contradicts the model's own %s" % (
                    args.replace_stride_with_dilation, meta["replace_stride_with_dilation"]))
            if any(args.replace_stride_with_dilation):
                meta["replace_stride_with_dilation"] = json.dumps(args.replace_stride_with_dilation)
        if labels is not None:
            meta["labels"] = json.dumps(labels)
        safetensors_io.save(args.output, tensors, meta)
    except (ConversionError, KeyError, OSError, ValueError) as e:
        print("convert.py: %s" % e, file=sys.stderr)
        return 2
    print("wrote %s: %d tensors, %d classes%s" % (args.output, len(tensors), tensors["fc.weight"].shape[0],
                                                 ", %d hidden head layers" % sum(k.startswith("head.") and k.endswith(".weight") for k in tensors)))
    if args.check:
        import convert_check

        chosen_resize = args.resize or (pre or {}).get("resize")
        return convert_check.run(args.output, fmt, args.source, args.engine, chosen_resize, timm_cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
