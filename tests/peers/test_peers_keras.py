#!/usr/bin/env python3
"""Keras for real: keras.applications.ResNet50(weights=None) in the four fine-tune shapes people build, saved by the
real tf_keras (Keras 2: model.save .h5, save_weights .h5) and Keras 3 (.keras, .weights.h5), converted by
tools/convert.py and run by cam_engine, against Keras's own model.predict (probabilities <= 1e-5) and a Grad-CAM
computed as the Keras tutorial does it (tf.GradientTape on conv5_block3_out, the class logit with the softmax
removed, gradients averaged over the map, ReLU, divided by the max), then resized and normalised as the engine's
conventions say (bilinear, half-pixel centres, min-max): max |diff| <= 1e-4. The last two steps are affine and
linear, so they do not hide a difference in the map itself.

Weights are random and so are every BatchNormalization's statistics (gamma, beta, moving mean and variance), so a
mix-up of BN variables or of the layer order cannot pass. Inputs: random uint8 images at the input size through
Keras's preprocess_input ("caffe": BGR, mean subtracted), which the converter's keras-caffe preprocess matches.
A Dense head with another activation is refused with the layer named.
Usage: test_peers_keras.py --engine build/cam_engine   (exit 77 = skipped without the peer libraries)
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

np, tf, keras, tf_keras = peers.need("numpy", "tensorflow", "keras", "tf_keras")
import convert_check  # noqa: E402

SIZE, CLASSES = 96, 7


def build(K, shape, seed):
    """One of the fine-tune shapes, in Keras module K (tf_keras or keras); random weights and BN statistics."""
    K.utils.set_random_seed(seed)
    L = K.layers
    pooled = shape == "pooling='avg' + Dense"
    base = K.applications.ResNet50(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3),
                                   pooling="avg" if pooled else None)
    if shape == "Sequential([base, GAP, Dropout, Dense])":
        model = K.Sequential([base, L.GlobalAveragePooling2D(), L.Dropout(0.3), L.Dense(CLASSES, activation="softmax")])
    elif pooled:
        model = K.Model(base.input, L.Dense(CLASSES, activation="softmax")(base.output))
    else:
        x = L.GlobalAveragePooling2D()(base.output)
        if shape == "GAP -> Dense-ReLU-Dropout -> Dense":
            x = L.Dropout(0.2)(L.Dense(24, activation="relu")(x))
        model = K.Model(base.input, L.Dense(CLASSES, activation="softmax")(x))
    rng = np.random.default_rng(seed)
    for layer in base.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                               rng.uniform(0.5, 2.0, n)])
    conv1 = base.get_layer("conv1_conv")
    kernel, bias = conv1.get_weights()
    conv1.set_weights([kernel / 40, bias])  # caffe inputs span +-128: keep the activations in a useful range
    return model, base


def keras_side(K, model, base, images):
    """Keras's probabilities and the tutorial's Grad-CAM (then the engine's resize + min-max) for the top-1 class."""
    x = K.applications.resnet50.preprocess_input(images.astype(np.float32))
    probs = model.predict(x, verbose=0)
    features = K.Model(base.inputs, base.get_layer("conv5_block3_out").output)
    dense = [layer for layer in model.layers if isinstance(layer, K.layers.Dense)]
    maps = []
    for i in range(len(images)):
        with tf.GradientTape() as tape:
            a = features([x[i : i + 1]])
            tape.watch(a)
            h = tf.reduce_mean(a, axis=(1, 2))
            for layer in dense[:-1]:
                h = layer(h)  # Dense with ReLU; Dropout is the identity at inference
            w, b = dense[-1].kernel, dense[-1].bias
            logit = (tf.matmul(h, w) + b)[:, int(probs[i].argmax())]  # the tutorial removes the softmax
        grads = tape.gradient(logit, a)
        pooled = tf.reduce_mean(grads, axis=(0, 1, 2))
        heat = tf.squeeze(a[0] @ pooled[..., tf.newaxis])
        heat = tf.maximum(heat, 0) / (tf.math.reduce_max(heat) + 1e-12)
        m = tf.image.resize(heat[tf.newaxis, ..., tf.newaxis], (SIZE, SIZE), method="bilinear").numpy()[0, ..., 0]
        m = m - m.min()
        maps.append(m / (1e-7 + m.max()))
    return probs, probs.argmax(1), np.stack(maps)


def main():
    engine, results, tmp = peers.start()
    images = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    shapes = ["GAP -> Dense", "Sequential([base, GAP, Dropout, Dense])", "GAP -> Dense-ReLU-Dropout -> Dense",
              "pooling='avg' + Dense"]
    print("tensorflow %s, tf_keras %s, keras %s" % (tf.__version__, tf_keras.__version__, keras.__version__))
    for K, files in ((tf_keras, (("Keras 2 model.save", "m.h5"), ("Keras 2 save_weights", "w.h5"))),
                     (keras, (("Keras 3 model.save", "m.keras"), ("Keras 3 save_weights", "m.weights.h5")))):
        for s, shape in enumerate(shapes):
            model, base = build(K, shape, 10 + s)
            probs, top, maps = keras_side(K, model, base, images)
            for what, name in files:
                source = os.path.join(tmp, "%d_%s" % (s, name))
                if "weights" in what:
                    model.save_weights(source)
                else:
                    model.save(source)
                out = source + ".safetensors"
                code, text = peers.convert(source, out, "--input-size", str(SIZE))
                label = "%s, %s" % (what, shape)
                if code != 0:
                    results.add(label, False, "convert failed: " + text.strip().splitlines()[-1])
                    continue
                p, c = convert_check.max_differences(*convert_check.engine_outputs(out, images, engine),
                                                     probs, top, maps, "Keras")
                results.add(label, p <= 1e-5 and c <= 1e-4, "probabilities max |diff| %.3g (max prob %.3f), "
                            "Grad-CAM max |diff| %.3g" % (p, float(probs.max()), c))

    # A head the engine cannot run is refused, naming the layer.
    K = keras
    base = K.applications.ResNet50(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    x = K.layers.Dense(16, activation="tanh", name="tanh_head")(K.layers.GlobalAveragePooling2D()(base.output))
    model = K.Model(base.input, K.layers.Dense(CLASSES, activation="softmax")(x))
    source = os.path.join(tmp, "tanh.keras")
    model.save(source)
    code, text = peers.convert(source, source + ".safetensors")
    results.add("refuses a tanh hidden Dense layer (Keras 3 .keras)", code == 2 and "tanh_head" in text,
                text.strip().splitlines()[-1] if text.strip() else "no output")

    # The files as Keras saved them, given to the engine: it says what they are and how to convert them.
    for kind, name in (("a Keras 3 .keras file (zip)", "0_m.keras"), ("an HDF5 file", "0_m.weights.h5"),
                       ("an HDF5 file", "0_m.h5")):
        r = subprocess.run([engine, "--info", os.path.join(tmp, name)], capture_output=True, text=True)
        results.add("cam_engine --info %s says what it is" % name,
                    r.returncode == 2 and ("this is %s" % kind) in r.stderr and "tools/convert.py" in r.stderr,
                    r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "no output")
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
