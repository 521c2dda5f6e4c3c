"""cam_engine.from_keras against Keras itself: a Keras 3 and a tf_keras ResNet50 fine-tune (GAP + Dense, random
weights and BN statistics) on real Fruits-360 photos, the engine's probabilities against model.predict.
Skipped, saying so, without TensorFlow and Keras (the peers of tools/setup.sh)."""
import numpy as np
import pytest

import cam_engine
from conftest import heldout_photos as photos

tf = pytest.importorskip("tensorflow", reason="TensorFlow is a peer library (tools/setup.sh without CAM_SKIP_PEERS)")
keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

SIZE, CLASSES = 96, 5


def fine_tune(K, seed):
    K.utils.set_random_seed(seed)
    base = K.applications.ResNet50(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3), pooling="avg")
    model = K.Model(base.input, K.layers.Dense(CLASSES, activation="softmax")(base.output))
    rng = np.random.default_rng(seed)
    for layer in base.layers:
        if isinstance(layer, K.layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                               rng.uniform(0.5, 2.0, n)])
    conv1 = base.get_layer("conv1_conv")
    kernel, bias = conv1.get_weights()
    conv1.set_weights([kernel / 40, bias])  # caffe inputs span +-128: keep the activations in a useful range
    return model


@pytest.mark.parametrize("K", [keras, tf_keras], ids=["keras3", "tf_keras"])
def test_from_keras_equals_model_predict(K):
    model = fine_tune(K, 3)
    images = photos(SIZE, 4)
    want = model.predict(K.applications.resnet50.preprocess_input(images.astype(np.float32)), verbose=0)
    eng = cam_engine.from_keras(model, input_size=SIZE, labels=list("abcde"), backend="cpu")
    assert eng.info["channel_order"] == "BGR" and eng.info["resize"] == "pil-nearest"
    got = eng(images).probs
    assert np.abs(got - want).max() <= 1e-4
    assert eng.labels == list("abcde")
