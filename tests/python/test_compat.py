"""cam_engine.from_torch against PyTorch's own forward, and cam_engine.compat against pytorch-grad-cam 1.5.7 on
real Fruits-360 photos (torchvision ResNets with randomized weights and BN statistics, so that maps and logits
are not trivial). Skipped, saying so, without PyTorch and pytorch-grad-cam (the peers of tools/setup.sh)."""
import re

import numpy as np
import pytest

import cam_engine
from cam_engine import compat
from conftest import heldout_photos as photos

torch = pytest.importorskip("torch", reason="PyTorch is a peer library (tools/setup.sh without CAM_SKIP_PEERS)")
torchvision = pytest.importorskip("torchvision")
pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.image import show_cam_on_image  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction  # noqa: E402

import torch_resnet  # noqa: E402  (tools/)

MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def tensor_of(images):
    return torch.from_numpy(((images.astype(np.float32) / 255 - MEAN) / STD).transpose(0, 3, 1, 2).copy())


@pytest.fixture(scope="module")
def resnet50():
    torch.manual_seed(0)
    return torch_resnet.randomize(torchvision.models.resnet50(num_classes=12), 3).eval()


def test_from_torch_equals_pytorch(resnet50):
    x = tensor_of(photos(224, 4))
    with torch.no_grad():
        want = resnet50(x).numpy()
    eng = cam_engine.from_torch(resnet50, input_size=224, labels=["c%d" % i for i in range(12)], backend="cpu")
    got = eng.run_tensor(x, topk=1).logits
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert eng.labels[3] == "c3" and eng.info["source"].startswith("cam_engine.from_torch(ResNet)")
    # the same through the engine's own decode: the photos as uint8 arrays at the input size
    assert np.abs(eng(photos(224, 4)).logits - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    dilated = torch_resnet.randomize(torchvision.models.resnet50(num_classes=5, replace_stride_with_dilation=[False, False, True]), 4).eval()
    x = tensor_of(photos(96, 2))
    with torch.no_grad():
        want = dilated(x).numpy()
    eng = cam_engine.from_torch(dilated, input_size=96, backend="cpu")
    assert "dilated" in eng.info["architecture"]
    assert np.abs(eng.run_tensor(x).logits - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    resnext = torch_resnet.randomize(torchvision.models.resnext50_32x4d(num_classes=5), 5).eval()
    with torch.no_grad():
        want = resnext(x).numpy()
    eng = cam_engine.from_torch(resnext, input_size=96, backend="cpu")
    assert "ResNeXt-50" in eng.info["architecture"] and "32 groups" in eng.info["architecture"]
    assert np.abs(eng.run_tensor(x).logits - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


def test_from_torch_refuses_what_it_cannot_run():
    with pytest.raises(cam_engine.WeightsError, match="not a torchvision/timm ResNet layout"):
        cam_engine.from_torch(torchvision.models.mobilenet_v3_small(num_classes=3))
    sigmoid_head = torchvision.models.resnet18(num_classes=3)
    sigmoid_head.fc = torch.nn.Sequential(torch.nn.Linear(512, 8), torch.nn.Sigmoid(), torch.nn.Linear(8, 3))
    with pytest.raises(cam_engine.WeightsError, match="head module Sigmoid is not Linear/ReLU/Dropout"):
        cam_engine.from_torch(sigmoid_head)
    with pytest.raises(cam_engine.OptionError, match="2 labels for 3 classes"):
        cam_engine.from_torch(torchvision.models.resnet18(num_classes=3), labels=["a", "b"])


@pytest.mark.parametrize("ours, theirs, bound", [(compat.GradCAM, pytorch_grad_cam.GradCAM, 1e-5),
                                                 (compat.GradCAMPlusPlus, pytorch_grad_cam.GradCAMPlusPlus, 1e-4)])
def test_gradient_methods_equal_pytorch_grad_cam(resnet50, ours, theirs, bound):
    x = tensor_of(photos(224, 4))
    targets = [ClassifierOutputTarget(c) for c in (3, 3, 7, 0)]
    for t in (None, targets):
        with theirs(model=resnet50, target_layers=[resnet50.layer4[-1]]) as cam:
            want = cam(input_tensor=x, targets=t)
        with ours(model=resnet50, target_layers=[resnet50.layer4[-1]]) as cam:
            got = cam(input_tensor=x, targets=t)
        assert got.dtype == np.float32 and got.shape == want.shape == (4, 224, 224)
        assert np.abs(got - want).max() <= bound
    with ours(model=resnet50, target_layers=[resnet50.layer4]) as cam:  # ints and the whole layer4
        assert np.abs(cam(input_tensor=x, targets=[3, 3, 7, 0]) - want).max() <= bound
        assert cam.outputs.shape == (4, 12)


def test_score_cam_and_eigen_cam_equal_pytorch_grad_cam():
    torch.manual_seed(0)
    model = torch_resnet.randomize(torchvision.models.resnet18(num_classes=6), 5).eval()
    x = tensor_of(photos(112, 2))
    with pytorch_grad_cam.ScoreCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        want = cam(input_tensor=x, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(4)])
    with compat.ScoreCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        got = cam(input_tensor=x, targets=[1, 4])
    assert np.abs(got - want).max() <= 1e-4

    class SignCorrectedEigenCAM(pytorch_grad_cam.EigenCAM):
        def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
            return get_2d_projection_with_sign_correction(activations)

    with SignCorrectedEigenCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        want = cam(input_tensor=x, targets=None)
    with compat.EigenCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        got = cam(input_tensor=x)
    assert np.abs(got - want).max() <= 1e-4


def test_show_cam_on_image_equals_pytorch_grad_cam():
    rgb = photos(224, 1)[0].astype(np.float32) / 255
    mask = np.random.default_rng(0).random((224, 224), dtype=np.float32)
    for use_rgb in (False, True):
        for colormap in (2, 20, 16):  # cv2.COLORMAP_JET, TURBO, VIRIDIS
            want = show_cam_on_image(rgb, mask, use_rgb=use_rgb, colormap=colormap, image_weight=0.4)
            assert np.array_equal(compat.show_cam_on_image(rgb, mask, use_rgb, colormap, 0.4), want)


def test_what_has_no_meaning_is_refused(resnet50):
    x = tensor_of(photos(224, 1))
    with pytest.raises(cam_engine.OptionError, match="last block only"):
        compat.GradCAM(model=resnet50, target_layers=[resnet50.layer3[-1]])
    with pytest.raises(cam_engine.OptionError, match="reshape_transform"):
        compat.GradCAM(model=resnet50, target_layers=[resnet50.layer4[-1]], reshape_transform=lambda t: t)
    with pytest.raises(cam_engine.OptionError, match="has no layer4"):
        m = torchvision.models.mobilenet_v3_small()
        compat.GradCAM(model=m, target_layers=[m.features[-1]])
    cam = compat.GradCAM(model=resnet50, target_layers=[resnet50.layer4[-1]])
    for kwargs, message in (({"aug_smooth": True}, "aug_smooth"), ({"eigen_smooth": True}, "eigen_smooth")):
        with pytest.raises(cam_engine.OptionError, match=message):
            cam(input_tensor=x, **kwargs)
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    with pytest.raises(cam_engine.OptionError, match=re.escape("targets[0]: ClassifierOutputSoftmaxTarget")):
        cam(input_tensor=x, targets=[ClassifierOutputSoftmaxTarget(1)])
    with pytest.raises(cam_engine.OptionError, match="targets: 2 for a batch of 1"):
        cam(input_tensor=x, targets=[1, 2])
    with pytest.raises(TypeError, match="unexpected keyword argument 'use_cude'"):
        compat.GradCAM(model=resnet50, target_layers=[resnet50.layer4[-1]], use_cude=True)
