#!/usr/bin/env python3
"""Converter round trips, driven by ctest: for each source format a small model is built here, written in that
format, converted by tools/convert.py, run through cam_engine and compared with the source model's own outputs
(probabilities and Grad-CAM by autograd). Exits 77 (ctest: skipped) when /usr/bin/python3 lacks a package.

Keras files are written with h5py in the layout Keras 2 model.save writes (model_weights/<layer> with layer_names
and weight_names attributes; tests/peers/test_peers_keras.py uses the real Keras 2 and 3), from a PyTorch model
with Keras v1 semantics (conv biases, stride in the first 1x1, BN eps 1.001e-5). ONNX files come from
torch.onnx.export, which folds BN into the convolutions.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import onnx  # noqa: F401
    import torch
    import torchvision
    from PIL import Image  # noqa: F401
except ImportError as e:
    print("SKIPPED: %s (apt-get install python3-torch python3-torchvision python3-h5py python3-onnx python3-pil)" % e)
    sys.exit(77)

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools")
sys.path.insert(0, TOOLS)
import convert as convert_module  # noqa: E402
import convert_check  # noqa: E402
import torch_resnet  # noqa: E402

results = []


def convert(source, out, *extra):
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "convert.py"), source, "-o", out] + list(extra),
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def round_trip(name, model, source, out, engine, *extra):
    code, text = convert(source, out, *extra)
    if code != 0:
        results.append((name, False, "convert failed: " + text.strip()))
        return
    p, c = convert_check.compare(out, model.eval(), engine)
    ok = p <= 1e-5 and c <= 1e-4
    results.append((name, ok, "probabilities max |diff| %.3g, CAM max |diff| %.3g" % (p, c)))


def refused(name, source, out, expected):
    code, text = convert(source, out)
    results.append((name, code == 2 and expected in text, text.strip().splitlines()[-1] if text.strip() else "no output"))


def keras_name(torch_name):
    """torchvision name of a conv/bn -> Keras applications.ResNet50 layer name."""
    if torch_name in ("conv1", "bn1"):
        return "conv1_conv" if torch_name == "conv1" else "conv1_bn"
    stage, block, *rest = torch_name.replace("layer", "").split(".")
    part = ".".join(rest)
    index, kind = {"conv1": (1, "conv"), "conv2": (2, "conv"), "conv3": (3, "conv"), "bn1": (1, "bn"), "bn2": (2, "bn"),
                   "bn3": (3, "bn"), "downsample.0": (0, "conv"), "downsample.1": (0, "bn")}[part]
    return "conv%d_block%d_%d_%s" % (int(stage) + 1, int(block) + 1, index, kind)


def keras_layers(model):
    """[(keras layer name, [(var name, array)])] in Keras's order, from a PyTorch model with Keras semantics."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    layers = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            layers.append((keras_name(name), [("kernel", sd[name + ".weight"].transpose(2, 3, 1, 0)), ("bias", sd[name + ".bias"])]))
        elif isinstance(m, torch.nn.BatchNorm2d):
            layers.append((keras_name(name if not name.endswith("downsample.1") else name), [
                ("gamma", sd[name + ".weight"]), ("beta", sd[name + ".bias"]), ("moving_mean", sd[name + ".running_mean"]),
                ("moving_variance", sd[name + ".running_var"])]))
    dense = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    for i, name in enumerate(dense):
        lname = "predictions" if name == "fc" else "dense_%d" % i
        layers.append((lname, [("kernel", sd[name + ".weight"].T), ("bias", sd[name + ".bias"])]))
    return layers


def write_keras2(path, layers):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        root = f.create_group("model_weights")
        names = ["input_1", "conv1_pad"] + [n for n, _ in layers] + ["avg_pool"]
        root.attrs["layer_names"] = np.array([n.encode() for n in names])
        have = dict(layers)
        for n in names:
            g = root.create_group(n)
            wn = ["%s/%s:0" % (n, v) for v, _ in have.get(n, [])]
            g.attrs["weight_names"] = np.array([w.encode() for w in wn])
            for w, (_, a) in zip(wn, have.get(n, [])):
                g.create_dataset(w, data=a)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    args = ap.parse_args()
    temporary = tempfile.TemporaryDirectory(prefix="cam_convert_")  # removed, with its models, when main returns
    tmp = temporary.name
    torch.manual_seed(0)

    # PyTorch: state_dict with DataParallel prefixes and a user-style Sequential MLP head; a whole pickled model.
    m = torch_resnet.randomize(torch_resnet.ResNet(50, 8, 6), 1)
    m.fc = torch.nn.Sequential(torch.nn.Linear(256, 40), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(40, 6))
    torch.save({"state_dict": {"module." + k: v for k, v in m.state_dict().items()}}, os.path.join(tmp, "sd.pth"))
    round_trip("pytorch state_dict, MLP head", m, os.path.join(tmp, "sd.pth"), os.path.join(tmp, "sd.safetensors"), args.engine,
               "--input-size", "96")
    m2 = torch_resnet.randomize(torch_resnet.ResNet(18, 8, 5), 2)
    torch.save(m2, os.path.join(tmp, "whole.pt"))
    round_trip("pytorch whole model, --trust-pickle", m2, os.path.join(tmp, "whole.pt"),
               os.path.join(tmp, "whole.safetensors"), args.engine, "--input-size", "80x64", "--trust-pickle")
    refused("a whole model without --trust-pickle: the class named", os.path.join(tmp, "whole.pt"),
            os.path.join(tmp, "untrusted.safetensors"), "a whole pickled model (class torch_resnet.ResNet)")
    # the prefixes of DDP, torch.compile and wrappers, in combination
    torch.save({"module._orig_mod." + k: v for k, v in m2.state_dict().items()}, os.path.join(tmp, "compiled.pth"))
    round_trip("pytorch state_dict, module._orig_mod. prefixes", m2, os.path.join(tmp, "compiled.pth"),
               os.path.join(tmp, "compiled.safetensors"), args.engine, "--input-size", "80x64")
    torch.save({"backbone." + k: v for k, v in m2.state_dict().items()}, os.path.join(tmp, "other.pth"))
    refused("an unknown layout names the keys it has", os.path.join(tmp, "other.pth"),
            os.path.join(tmp, "other.safetensors"), "no 'conv1.weight' among its 122 tensors (backbone.conv1.weight")

    # a wide ResNet (torchvision's wide_resnet50_2: bottlenecks twice as wide inside): the shapes come from the
    # tensors, so it runs as it is
    wide = torch_resnet.randomize(torchvision.models.wide_resnet50_2(num_classes=7), 6)
    torch.save(wide.state_dict(), os.path.join(tmp, "wide.pth"))
    round_trip("torchvision wide_resnet50_2 state_dict", wide, os.path.join(tmp, "wide.pth"),
               os.path.join(tmp, "wide.safetensors"), args.engine, "--input-size", "96")

    # torchvision's replace_stride_with_dilation: a whole model says it; a state_dict needs the option, and
    # without it the maps would have the wrong size (the engine's probabilities differ: the check fails).
    d = torch_resnet.randomize(torch_resnet.ResNet(50, 8, 5, replace_stride_with_dilation=(False, True, True)), 5)
    torch.save(d, os.path.join(tmp, "dilated.pt"))
    round_trip("pytorch whole model, layer3+4 dilated", d, os.path.join(tmp, "dilated.pt"),
               os.path.join(tmp, "dilated.safetensors"), args.engine, "--input-size", "72x56", "--trust-pickle")
    torch.save(d.state_dict(), os.path.join(tmp, "dilated_sd.pth"))
    round_trip("pytorch state_dict, --replace-stride-with-dilation", d, os.path.join(tmp, "dilated_sd.pth"),
               os.path.join(tmp, "dilated_sd.safetensors"), args.engine, "--input-size", "72x56",
               "--replace-stride-with-dilation", "false,true,true")
    code, text = convert(os.path.join(tmp, "dilated.pt"), os.path.join(tmp, "contradiction.safetensors"),
                         "--replace-stride-with-dilation", "false,false,true", "--trust-pickle")
    results.append(("a dilation option the model contradicts is refused", code == 2 and "contradicts" in text,
                    text.strip().splitlines()[-1] if text.strip() else "no output"))

    # Keras v1 semantics in the Keras 2 .h5 layout, with a Dense hidden layer (real Keras files of both versions:
    # tests/peers/test_peers_keras.py).
    k = torch_resnet.randomize(torch_resnet.ResNet(50, 8, 4, hidden=(24,), stride_in_1x1=True, conv_bias=True, eps=1.001e-5), 3)
    with torch.no_grad():
        k.conv1.weight /= 60.0  # caffe inputs span about +-128: keep activations (and probabilities) in a useful range
    layers = keras_layers(k)
    write_keras2(os.path.join(tmp, "model.h5"), layers)
    round_trip("keras 2 layout model.h5", k, os.path.join(tmp, "model.h5"), os.path.join(tmp, "model.h5.safetensors"), args.engine,
               "--input-size", "96")

    # ONNX export (BN folded into conv biases), bottleneck blocks with downsample branches.
    o = torch_resnet.randomize(torch_resnet.ResNet(50, 8, 7), 4).eval()
    torch.onnx.export(o, torch.zeros(1, 3, 64, 64), os.path.join(tmp, "model.onnx"), opset_version=13, do_constant_folding=True)
    round_trip("onnx export", o, os.path.join(tmp, "model.onnx"), os.path.join(tmp, "onnx.safetensors"), args.engine, "--input-size", "64")

    # ResNeXt (torchvision's resnext50_32x4d: grouped 3x3s) and ResNet-D (timm's deep stem and average-pool
    # shortcuts, in the local model with timm's names; tests/peers/test_peers_cam.py runs timm's own), each also
    # through --check, whose PyTorch side is rebuilt from the converted tensors.
    x = torch_resnet.randomize(torchvision.models.resnext50_32x4d(num_classes=3), 7)
    torch.save(x.state_dict(), os.path.join(tmp, "resnext.pth"))
    round_trip("torchvision resnext50_32x4d state_dict", x, os.path.join(tmp, "resnext.pth"),
               os.path.join(tmp, "resnext.safetensors"), args.engine, "--input-size", "96")
    rd = torch_resnet.randomize(torch_resnet.ResNet(50, 16, 5, deep_stem=(8, 8), avg_down=True, inner=(32, 64, 128, 256),
                                                    groups=4), 8)
    torch.save(rd.state_dict(), os.path.join(tmp, "resnextd.pth"))
    round_trip("ResNeXt-D state_dict (deep stem, avg-pool shortcuts)", rd, os.path.join(tmp, "resnextd.pth"),
               os.path.join(tmp, "resnextd.safetensors"), args.engine, "--input-size", "75x83")
    for name, source in (("resnext", "resnext.pth"), ("ResNeXt-D", "resnextd.pth")):
        code, text = convert(os.path.join(tmp, source), os.path.join(tmp, "checked_" + source + ".safetensors"),
                             "--input-size", "96", "--check", "--engine", args.engine)
        results.append(("--check of a %s state_dict" % name, code == 0 and "OK" in text,
                        text.strip().splitlines()[-1] if text.strip() else "no output"))

    # --check on photo-sized inputs through the source's own loading: with a centre crop it passes; a Keras file
    # stored with bilinear, checked as if that were the source's default (Keras load_img: nearest), fails.
    code, text = convert(os.path.join(tmp, "resnext.pth"), os.path.join(tmp, "crop.safetensors"), "--input-size", "96",
                         "--preprocess", json.dumps(dict(convert_module.PREPROCESS["torchvision"], resize_shorter=110,
                                                         resize="pil-bicubic")), "--check", "--engine", args.engine)
    results.append(("--check on photos through torchvision Resize(110) + CenterCrop(96), bicubic",
                    code == 0 and "photo-sized inputs through torchvision Resize(110) + CenterCrop((96, 96)), bicubic"
                    in text and "FAILED" not in text, text.strip().splitlines()[-1] if text.strip() else "no output"))
    wrong = os.path.join(tmp, "keras_bilinear.safetensors")
    code, text = convert(os.path.join(tmp, "model.h5"), wrong, "--input-size", "64", "--resize", "pil-bilinear")
    status = convert_check.run(wrong, "keras", os.path.join(tmp, "model.h5"), args.engine)
    results.append(("--check fails a Keras file stored with pil-bilinear (load_img resizes with nearest)",
                    code == 0 and status == 1, "exit %d" % status))

    # Refusals with a reason.
    s = torch.nn.Sequential(o, torch.nn.Sigmoid())
    torch.onnx.export(s, torch.zeros(1, 3, 64, 64), os.path.join(tmp, "sig.onnx"), opset_version=13)
    refused("refuses an ONNX graph that is not a plain ResNet", os.path.join(tmp, "sig.onnx"), os.path.join(tmp, "y.safetensors"),
            "does not fit a plain ResNet")

    # model files given to the engine as they were saved: named, with the command that converts them
    for kind, source in (("a PyTorch file (torch.save, zip)", "whole.pt"), ("an HDF5 file", "model.h5"),
                         ("an ONNX file", "model.onnx")):
        r = subprocess.run([args.engine, "--info", os.path.join(tmp, source)], capture_output=True, text=True)
        expected = "this is %s" % kind
        results.append(("cam_engine --info %s says what it is" % source,
                        r.returncode == 2 and expected in r.stderr and "tools/convert.py" in r.stderr,
                        r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "no output"))

    failed = 0
    for name, ok, detail in results:
        print("%-52s %s  %s" % (name, "ok  " if ok else "FAIL", detail))
        failed += not ok
    print("%d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
