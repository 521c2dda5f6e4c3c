"""Reads the layers of a Keras ResNet file for tools/convert.py: [(Keras applications layer name, {var: array})] in
file order, and the head's Dense layers with their activations when the file carries the model's config.

Files, as the real libraries write them (checked in tests/peers/test_peers_keras.py against tf_keras and Keras 3):
- Keras 2 `.h5` (tf_keras `model.save` or `save_weights`): groups named after the layers (`conv1_conv`,
  `conv2_block1_0_bn`, ...), `layer_names` and `weight_names` attributes; `model.save` adds the config as the
  `model_config` attribute. A nested model (`Sequential([base, ...])`) is one group whose weight names carry the
  inner layer names.
- Keras 3 `.weights.h5` (`save_weights`) and `.keras` (`model.save`: a zip of `config.json` and `model.weights.h5`):
  groups named after the layer's class and its rank among the layers of that class in `model.layers` order
  (`conv2d_7`, `batch_normalization_12`, `dense_1`), not after the layer; each holds `vars/0..n`. The ranks are
  mapped back to keras.applications names from the ResNet's layer order (which is the order Keras itself builds:
  in a block with a shortcut, `_1`, `_2`, `_0`, `_3`), and a `.keras` file's config must name them the same way.
"""
import io
import json
import re
import zipfile

import numpy as np

VARS = {"conv2d": ["kernel", "bias"], "batch_normalization": ["gamma", "beta", "moving_mean", "moving_variance"],
        "dense": ["kernel", "bias"]}
BLOCKS = {53: [3, 4, 6, 3], 104: [3, 4, 23, 3], 155: [3, 8, 36, 3]}  # Conv2D count -> blocks per stage (50/101/152)


class KerasFileError(Exception):
    pass


def applications_names(conv_count):
    """keras.applications.ResNet{50,101,152} conv/bn base names (without _conv/_bn) in model.layers order."""
    if conv_count not in BLOCKS:
        raise KerasFileError("%d Conv2D layers: keras.applications ResNet50/101/152 have 53, 104 or 155" % conv_count)
    names = ["conv1"]
    for stage, blocks in enumerate(BLOCKS[conv_count]):
        for block in range(blocks):
            base = "conv%d_block%d_" % (stage + 2, block + 1)
            names += [base + i for i in (("1", "2", "0", "3") if block == 0 else ("1", "2", "3"))]
    return names


def flat_layers(config):
    """[(class name, layer config)] of a model config, nested models expanded in place, in model.layers order."""
    out = []
    for layer in config.get("config", {}).get("layers", []):
        inner = layer.get("config", {})
        if "layers" in inner:
            out += flat_layers(layer)
        else:
            out.append((layer.get("class_name"), inner))
    return out


def dense_activations(config):
    """[(Dense name, activation)] in order; a Dense followed by a ReLU or Activation('relu') layer counts as relu."""
    dense = []
    for cls, cfg in flat_layers(config):
        activation = cfg.get("activation")
        if cls == "Dense":
            dense.append([cfg.get("name"), activation if isinstance(activation, str) else str(activation)])
        elif dense and dense[-1][1] == "linear" and (cls == "ReLU" or (cls == "Activation" and activation == "relu")):
            dense[-1][1] = "relu"
    return [tuple(d) for d in dense]


def keras2_layers(f):
    root = f["model_weights"] if "model_weights" in f else f
    layers = []
    for lname in [n.decode() if isinstance(n, bytes) else n for n in root.attrs["layer_names"]]:
        g = root[lname]
        per_layer = {}
        for wn in [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]:
            parts = wn.split("/")
            per_layer.setdefault(parts[-2], {})[parts[-1].split(":")[0]] = np.asarray(g[wn], dtype=np.float32)
        layers += list(per_layer.items())
    return layers


def keras3_layers(f, config, path):
    import h5py

    groups = {}  # class -> {rank: [arrays]}

    def visit(name, obj):
        if not (isinstance(obj, h5py.Group) and name.endswith("/vars") and len(obj)):
            return
        m = re.match(r"(conv2d|batch_normalization|dense)(?:_(\d+))?$", name.split("/")[-2])
        if m:
            groups.setdefault(m.group(1), {})[int(m.group(2) or 0)] = [np.asarray(obj[str(i)], dtype=np.float32)
                                                                      for i in range(len(obj))]

    f.visititems(visit)
    convs, bns = groups.get("conv2d", {}), groups.get("batch_normalization", {})
    if len(convs) != len(bns) or sorted(convs) != list(range(len(convs))) or sorted(bns) != list(range(len(bns))):
        raise KerasFileError("%s: %d Conv2D and %d BatchNormalization layers, numbered with gaps: not a Keras ResNet"
                             % (path, len(convs), len(bns)))
    names = applications_names(len(convs))
    if config is not None:
        in_config = [cfg.get("name") for cls, cfg in flat_layers(config) if cls == "Conv2D"]
        if in_config != [n + "_conv" for n in names]:
            raise KerasFileError("%s: the Conv2D layers of the config are not keras.applications ResNet's, in its "
                                 "order (first difference at %s)" % (path, next(
                                     (c for c, n in zip(in_config, names) if c != n + "_conv"), "the count")))
    layers = []
    for rank, base in enumerate(names):
        layers.append((base + "_conv", dict(zip(VARS["conv2d"], convs[rank]))))
        layers.append((base + "_bn", dict(zip(VARS["batch_normalization"], bns[rank]))))
    dense = groups.get("dense", {})
    for rank in sorted(dense):
        layers.append(("dense" if rank == 0 else "dense_%d" % rank, dict(zip(VARS["dense"], dense[rank]))))
    return layers


def read(path):
    """(layers, dense activations or None) of a Keras 2 .h5, Keras 3 .weights.h5 or Keras 3 .keras file."""
    import h5py

    config = None
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                if "model.weights.h5" not in z.namelist() or "config.json" not in z.namelist():
                    raise KerasFileError("%s: a zip without model.weights.h5 and config.json (not a .keras file)" % path)
                config = json.loads(z.read("config.json"))
                data = io.BytesIO(z.read("model.weights.h5"))
            with h5py.File(data, "r") as f:
                return keras3_layers(f, config, path), dense_activations(config)
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" in root.attrs:
                if "model_config" in f.attrs:
                    raw = f.attrs["model_config"]
                    config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
                layers = keras2_layers(f)
            else:
                layers = keras3_layers(f, None, path)
    except OSError as e:
        raise KerasFileError("%s: not a readable HDF5 or .keras file (%s)" % (path, e))
    if not layers:
        raise KerasFileError("%s: no Keras layer weights found (not a Keras .h5 / .weights.h5 / .keras?)" % path)
    return layers, dense_activations(config) if config is not None else None
