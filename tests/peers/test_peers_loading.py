#!/usr/bin/env python3
"""Each source through its own framework's default loading, on real photos: a model is saved as its users save
it, converted by tools/convert.py with no preprocessing option (what the converter chose by itself), and the
engine, given the photo files, is compared in probability with the framework given the same files through its
usual loading path:
- torchvision ResNet-18 state_dict: PIL + torchvision Resize((224, 224)) + ToTensor + Normalize;
- timm ResNet-50 (save_for_hf): timm.data.create_transform(**resolve_data_config(model=...)), bicubic, Resize(256)
  + CenterCrop(224);
- ONNX (torch.onnx.export, TorchScript and dynamo exporters): ONNX Runtime on torchvision's pixels;
- tf_keras and Keras 3 ResNet50 (.h5, .keras): load_img(target_size) (nearest) + preprocess_input + predict;
- Keras 3 through image_dataset_from_directory (tf.io.decode_image: the fast IDCT for JPEGs; tf.image.resize
  bilinear), converted with --resize tf-bilinear --jpeg-idct fast (the converter cannot know the loader), on the
  JPEGs and on PNG copies; and the gap without --jpeg-idct fast, printed, not bounded.
Bound: probabilities max |diff| <= 1e-5. Photos: real Fruits-360 photos (100x100 JPEG) and non-square strips of
them (PNG). Usage: test_peers_loading.py --engine build/cam_engine   (exit 77 = skipped without the peers)
"""
import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

# torch before TensorFlow: the other order aborts in LLVM's option registry
np, torch, torchvision, timm, ort, PIL_Image = peers.need("numpy", "torch", "torchvision", "timm", "onnxruntime",
                                                          "PIL.Image")
tf, keras, tf_keras = peers.need("tensorflow", "keras", "tf_keras")
import torch_resnet  # noqa: E402  (tools/)
import torchvision.transforms as T  # noqa: E402

CLASSES = 5


def photo_files(tmp):
    """Real photos of different classes as their JPEG files, and two non-square strips of them as PNG."""
    folders = sorted(glob.glob(os.path.join(peers.ROOT, "tests", "data", "fruits360_heldout", "*", "")))
    jpegs = [sorted(glob.glob(f + "*.jpg"))[0] for f in folders[::6][:4]]
    arrays = [np.asarray(PIL_Image.open(p).convert("RGB")) for p in jpegs]
    strips = []
    for i, a in enumerate([np.concatenate(arrays[:2], axis=1), np.concatenate(arrays[1:4], axis=0)]):
        strips.append(os.path.join(tmp, "strip%d.png" % i))
        PIL_Image.fromarray(a).save(strips[-1])
    return jpegs + strips


def engine_probs(engine, weights, paths, tmp):
    out = os.path.join(tmp, "out")
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([engine, "--weights", weights, "--backend", "cpu", "--predictions", "all", "--quiet", "--out", out]
                   + paths, check=True)
    probs = np.zeros((len(paths), CLASSES))
    with open(os.path.join(out, "predictions.jsonl")) as f:
        for i, line in enumerate(f):
            for t in json.loads(line)["top"]:
                probs[i, t["class"]] = t["probability"]
    return probs


def converted(results, label, source, out, *extra):
    code, text = peers.convert(source, out, *extra)
    if code != 0:
        results.add(label, False, "convert failed: " + text.strip().splitlines()[-1])
        return None
    return [line for line in text.splitlines() if "resize" in line or "preprocess" in line]


def compare(results, label, engine, weights, paths, want, tmp, said, bound=1e-5):
    d = float(np.abs(engine_probs(engine, weights, paths, tmp) - want).max())
    results.add(label, bound is None or d <= bound, "probabilities max |diff| %.3g over %d photos%s%s" % (
        d, len(paths), "" if bound is None else " (bound %g)" % bound, "; converter: " + said[0] if said else ""))


def torch_side(model, paths, transform):
    x = torch.stack([transform(PIL_Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        return torch.softmax(model(x), 1).numpy(), x


def keras_model(K, seed):
    K.utils.set_random_seed(seed)
    base = K.applications.ResNet50(weights=None, include_top=False, input_shape=(224, 224, 3), pooling="avg")
    model = K.Model(base.input, K.layers.Dense(CLASSES, activation="softmax")(base.output))
    rng = np.random.default_rng(seed)
    for layer in base.layers:
        if isinstance(layer, K.layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                               rng.uniform(0.5, 2.0, n)])
    kernel, bias = base.get_layer("conv1_conv").get_weights()
    base.get_layer("conv1_conv").set_weights([kernel / 40, bias])
    return model


def main():
    engine, results, tmp = peers.start()
    paths = photo_files(tmp)
    print("torch %s, torchvision %s, timm %s, onnxruntime %s, tensorflow %s, tf_keras %s, keras %s, Pillow %s" % (
        torch.__version__, torchvision.__version__, timm.__version__, ort.__version__, tf.__version__,
        tf_keras.__version__, keras.__version__, PIL_Image.__version__))
    normalize = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    tv_transform = T.Compose([T.Resize((224, 224)), T.ToTensor(), normalize])

    r18 = torch_resnet.randomize(torchvision.models.resnet18(num_classes=CLASSES), 3).eval()
    torch.save(r18.state_dict(), os.path.join(tmp, "r18.pth"))
    said = converted(results, "torchvision resnet18", os.path.join(tmp, "r18.pth"), os.path.join(tmp, "r18.st"))
    want, x = torch_side(r18, paths, tv_transform)
    if said is not None:
        compare(results, "torchvision resnet18 state_dict, torchvision Resize((224, 224))", engine,
                os.path.join(tmp, "r18.st"), paths, want, tmp, said)
    for name, dynamo in (("TorchScript", False), ("dynamo", True)):
        onnx_path = os.path.join(tmp, "r18_%s.onnx" % name)
        torch.onnx.export(r18, x[:1], onnx_path, input_names=["input"], dynamic_axes={"input": {0: "n"}},
                          dynamo=dynamo)
        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        onnx_want = np.exp(logits - logits.max(1, keepdims=True))
        onnx_want /= onnx_want.sum(1, keepdims=True)
        out = os.path.join(tmp, "r18_%s.st" % name)
        said = converted(results, "ONNX " + name, onnx_path, out)
        if said is not None:
            compare(results, "ONNX (%s exporter) in ONNX Runtime, torchvision Resize((224, 224))" % name, engine, out,
                    paths, onnx_want, tmp, said)

    r50 = torch_resnet.randomize(timm.create_model("resnet50", num_classes=CLASSES), 4).eval()
    timm.models.save_for_hf(r50, os.path.join(tmp, "hf"), safe_serialization=False)
    config = timm.data.resolve_data_config(model=r50)
    want, _ = torch_side(r50, paths, timm.data.create_transform(**config))
    out = os.path.join(tmp, "r50.st")
    said = converted(results, "timm resnet50", os.path.join(tmp, "hf", "pytorch_model.bin"), out)
    if said is not None:
        compare(results, "timm resnet50 (save_for_hf), timm's eval transform (%s, crop_pct %g)" % (
            config["interpolation"], config["crop_pct"]), engine, out, paths, want, tmp, said)

    for K, name, ext in ((tf_keras, "tf_keras", "h5"), (keras, "Keras 3", "keras")):
        model = keras_model(K, 5)
        source = os.path.join(tmp, "k_%s.%s" % (name.replace(" ", ""), ext))
        model.save(source)
        x = np.stack([np.asarray(K.utils.load_img(p, target_size=(224, 224)), np.float32) for p in paths])
        want = model.predict(K.applications.resnet50.preprocess_input(x), verbose=0)
        out = source + ".st"
        said = converted(results, name, source, out)
        if said is not None:
            compare(results, "%s ResNet50 (.%s), load_img(target_size=(224, 224))" % (name, ext), engine, out, paths,
                    want, tmp, said)
        if K is keras:
            said = converted(results, name + " tf-bilinear", source, out + "tf", "--resize", "tf-bilinear",
                             "--jpeg-idct", "fast")
            accurate = converted(results, name + " tf-bilinear", source, out + "accurate", "--resize", "tf-bilinear")
            for k, (what, files, weights, bound) in enumerate((
                    ("PNG copies", None, out + "tf", 1e-5), ("the JPEGs, --jpeg-idct fast", paths, out + "tf", 1e-5),
                    ("the JPEGs, the accurate IDCT", paths, out + "accurate", None))):
                if files is None:
                    files = []
                    for i, p in enumerate(paths):
                        files.append(os.path.join(tmp, "png%d.png" % i))
                        PIL_Image.open(p).convert("RGB").save(files[-1])
                folder = os.path.join(tmp, "dataset_%d" % k, "class")
                os.makedirs(folder)
                for i, p in enumerate(files):  # names that keep the dataset's (sorted) order
                    shutil.copy(p, os.path.join(folder, "%02d%s" % (i, os.path.splitext(p)[1])))
                dataset = keras.utils.image_dataset_from_directory(os.path.dirname(folder), image_size=(224, 224),
                                                                   shuffle=False, batch_size=16, verbose=False)
                images = np.concatenate([b.numpy() for b, _ in dataset])
                want = model.predict(keras.applications.resnet50.preprocess_input(images), verbose=0)
                if said is not None and accurate is not None:
                    compare(results, "Keras 3 via image_dataset_from_directory, %s, --resize tf-bilinear" % what,
                            engine, weights, files, want, tmp, said, bound)
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
