#!/usr/bin/env python3
"""ONNX for real: torchvision's ResNet-50 (random weights and BN statistics) exported by the current PyTorch, both
exporters, converted by tools/convert.py and run by cam_engine, against ONNX Runtime on the same inputs
(probabilities max |diff| <= 1e-5) and, for the map, PyTorch's autograd Grad-CAM on the source model (<= 1e-4):
- torch.onnx.export's default (torch.export-based) exporter, dynamic batch, which folds BN into the convolutions;
- the TorchScript exporter (dynamo=False) with do_constant_folding=False, dynamic batch, which keeps the
  BatchNormalization nodes;
- a ResNet-18 with an MLP head (Linear-ReLU-Dropout-Linear) through the default exporter.
ONNX Runtime runs the whole batch at once, so the dynamic batch axis is exercised. A graph that is not a ResNet
(torchvision's MobileNetV3) is refused with the node named.
Usage: test_peers_onnx.py --engine build/cam_engine   (exit 77 = skipped without the peer libraries)
"""
import json
import os
import subprocess
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

np, torch, torchvision, onnx, ort, _ = peers.need("numpy", "torch", "torchvision", "onnx", "onnxruntime", "onnxscript")
import convert_check  # noqa: E402
import safetensors_io  # noqa: E402
import torch_resnet  # noqa: E402

warnings.filterwarnings("ignore")


def export(model, path, size, exporter):
    x = torch.zeros(2, 3, size, size)
    if exporter == "default":
        torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
    else:
        torch.onnx.export(model, (x,), path, dynamo=False, do_constant_folding=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    g = onnx.load(path)
    ops = sorted({n.op_type for n in g.graph.node})
    return "opset %d, %s BatchNormalization nodes" % (g.opset_import[0].version,
                                                       "with" if "BatchNormalization" in ops else "no")


def ort_probabilities(path, weights, images):
    _, meta = safetensors_io.load(weights)
    pre = json.loads(meta["preprocess"])
    x = (images.astype(np.float32) * pre["scale"] - np.array(pre["mean"], np.float32)) / np.array(pre["std"], np.float32)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def main():
    engine, results, tmp = peers.start()
    print("torch %s, onnx %s, onnxruntime %s" % (torch.__version__, onnx.__version__, ort.__version__))
    r50 = torch_resnet.randomize(torchvision.models.resnet50(num_classes=43), 1).eval()
    r18 = torchvision.models.resnet18(num_classes=131)
    r18.fc = torch.nn.Sequential(torch.nn.Linear(512, 64), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(64, 131))
    r18 = torch_resnet.randomize(r18, 2).eval()
    cases = [("ResNet-50, default exporter", r50, 224, "default"), ("ResNet-50, TorchScript exporter, BN kept", r50, 160,
             "torchscript"), ("ResNet-18 + MLP head, default exporter", r18, 128, "default")]
    for name, model, size, exporter in cases:
        source = os.path.join(tmp, "%s_%d.onnx" % (exporter, size))
        what = export(model, source, size, exporter)
        out = source + ".safetensors"
        code, text = peers.convert(source, out, "--input-size", str(size))
        if code != 0:
            results.add(name, False, "convert failed: " + text.strip().splitlines()[-1])
            continue
        images = convert_check.random_images(out, 3, 7)
        got = convert_check.engine_outputs(out, images, engine)
        p_ort = float(np.abs(got[0] - ort_probabilities(source, out, images)).max())
        _, meta = safetensors_io.load(out)
        probs, top, maps = convert_check.torch_cams(model, images, json.loads(meta["preprocess"]))
        _, c = convert_check.max_differences(*got, probs, top, maps)
        results.add(name, p_ort <= 1e-5 and c <= 1e-4, "%s; probabilities vs ONNX Runtime max |diff| %.3g, Grad-CAM vs "
                    "PyTorch max |diff| %.3g" % (what, p_ort, c))

    source = os.path.join(tmp, "mobilenet.onnx")
    export(torchvision.models.mobilenet_v3_small(num_classes=5).eval(), source, 96, "default")
    code, text = peers.convert(source, source + ".safetensors")
    last = text.strip().splitlines()[-1] if text.strip() else "no output"
    results.add("refuses a MobileNetV3 graph, naming the node", code == 2 and "node '" in last, last)
    # both exporters' files given to the engine as they are: it says what they are and how to convert them
    for name in ("default_224.onnx", "torchscript_160.onnx"):
        r = subprocess.run([engine, "--info", os.path.join(tmp, name)], capture_output=True, text=True)
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "no output"
        results.add("cam_engine --info %s says what it is" % name,
                    r.returncode == 2 and "this is an ONNX file" in last and "tools/convert.py" in last, last)
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
