"""pytorch-grad-cam's interface over cam_engine: change the import, keep the code.

    from cam_engine.compat import GradCAM, ClassifierOutputTarget, show_cam_on_image
    with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        grayscale_cam = cam(input_tensor=input_tensor, targets=[ClassifierOutputTarget(281)])  # (B, H, W)

GradCAM, GradCAMPlusPlus, ScoreCAM and EigenCAM give pytorch-grad-cam 1.5's maps on the last block of a
torchvision/timm ResNet (tests/python/test_compat.py measures the differences). The model is converted once per
input size by cam_engine.from_torch (the weights as they are at that call; convert again with `cam.reload()`
after training it more) and runs in eval mode, as a model for CAMs usually does. What has no meaning here is
refused, never ignored: another target layer, reshape_transform, aug_smooth, eigen_smooth, targets other than a
class index (ClassifierOutputTarget or an int).
EigenCAM: the projection's sign is pytorch-grad-cam's get_2d_projection_with_sign_correction (the map is
positive where the object is); pytorch-grad-cam's EigenCAM keeps NumPy's SVD sign, which may flip a map.
"""
import numpy as np

from . import OptionError, _core, from_torch

__all__ = ["GradCAM", "GradCAMPlusPlus", "ScoreCAM", "EigenCAM", "ClassifierOutputTarget", "show_cam_on_image"]


class ClassifierOutputTarget:
    """The class whose map is made (pytorch_grad_cam.utils.model_targets.ClassifierOutputTarget)."""

    def __init__(self, category):
        self.category = int(category)

    def __call__(self, model_output):
        return model_output[..., self.category]


def _category(target, i):
    if isinstance(target, (int, np.integer)):
        return int(target)
    if type(target).__name__ == "ClassifierOutputTarget" and hasattr(target, "category"):
        return int(target.category)  # ours, or pytorch-grad-cam's own
    raise OptionError("targets[%d]: %s; cam_engine maps classes: ClassifierOutputTarget(k) or an int (other "
                      "targets weight other outputs, which these closed-form maps do not)" % (i, type(target).__name__))


class _EngineCAM:
    method = None  # the engine's method name

    def __init__(self, model, target_layers, reshape_transform=None, backend="auto", threads=None, **kwargs):
        if reshape_transform is not None:
            raise OptionError("reshape_transform: cam_engine maps ResNets' NCHW feature maps; nothing to reshape")
        for name, value in kwargs.items():
            if name in ("compute_input_gradient", "uses_gradients", "tta_transforms", "detach", "use_cuda", "device"):
                continue  # how pytorch-grad-cam computes, not what: the engine has its own way
            raise TypeError("%s() got an unexpected keyword argument '%s'" % (type(self).__name__, name))
        layer4 = getattr(model, "layer4", None)
        if layer4 is None:
            raise OptionError("model: a %s has no layer4; cam_engine runs torchvision/timm ResNets"
                              % type(model).__name__)
        if len(target_layers) != 1 or not (target_layers[0] is layer4 or target_layers[0] is layer4[-1]):
            raise OptionError("target_layers: cam_engine maps the last block only ([model.layer4[-1]] or "
                              "[model.layer4]), as CAM is defined")
        self.model = model
        self.batch_size = 16
        self._engine_options = {"backend": backend, "threads": threads}
        self._engines = {}
        self.outputs = None

    def reload(self):
        """Converts the model again at the next call (after its weights changed)."""
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    def _engine(self, h, w):
        if (h, w) not in self._engines:
            self._engines[(h, w)] = from_torch(self.model, input_size=(w, h), **self._engine_options)
        return self._engines[(h, w)]

    def __call__(self, input_tensor, targets=None, aug_smooth=False, eigen_smooth=False):
        if aug_smooth:
            raise OptionError("aug_smooth: test-time augmentation is not done by cam_engine (average the maps of "
                              "the augmented inputs yourself)")
        if eigen_smooth:
            raise OptionError("eigen_smooth: not done by cam_engine (method EigenCAM gives the projection itself)")
        x = input_tensor.detach().cpu().float().numpy() if hasattr(input_tensor, "detach") else np.asarray(
            input_tensor, np.float32)
        if x.ndim != 4 or x.shape[1] != 3:
            raise OptionError("input_tensor: shape %s; expected (B, 3, H, W)" % (x.shape,))
        n, h, w = x.shape[0], x.shape[2], x.shape[3]
        engine = self._engine(h, w)
        options = {"method": self.method, "batch": self.batch_size}
        if targets is None:  # the top-1 class of each image, as pytorch-grad-cam
            r = engine.run_tensor(x, topk=1, **options)
            out, logits = r.maps[:, 0], r.logits
        else:
            if len(targets) != n:
                raise OptionError("targets: %d for a batch of %d" % (len(targets), n))
            categories = np.array([_category(t, i) for i, t in enumerate(targets)])
            out = np.empty((n, h, w), np.float32)
            logits = np.empty((n, len(engine.labels)), np.float32)
            for c in np.unique(categories):  # one engine call per class asked
                rows = np.flatnonzero(categories == c)
                r = engine.run_tensor(x[rows], topk=0, targets=[int(c)], **options)
                out[rows], logits[rows] = r.maps[:, 0], r.logits
        try:
            import torch

            self.outputs = torch.from_numpy(logits)
        except ImportError:
            self.outputs = logits
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.reload()


class GradCAM(_EngineCAM):
    method = "gradcam"


class GradCAMPlusPlus(_EngineCAM):
    method = "gradcam++"


class ScoreCAM(_EngineCAM):
    method = "scorecam"


class EigenCAM(_EngineCAM):
    method = "eigencam"


_CV2_COLORMAPS = {2: "jet", 20: "turbo", 16: "viridis", 14: "inferno", 13: "magma", 15: "plasma", 11: "hot", 1: "bone"}


def show_cam_on_image(img, mask, use_rgb=False, colormap=2, image_weight=0.5):
    """pytorch-grad-cam's show_cam_on_image: `mask` (H, W) in [0, 1] colored by an OpenCV colormap (its cv2
    number, 2 = COLORMAP_JET; or a name) over `img` float (H, W, 3) in [0, 1]; BGR heatmap unless use_rgb."""
    name = colormap if isinstance(colormap, str) else _CV2_COLORMAPS.get(int(colormap))
    if name is None:
        raise OptionError("colormap %s: cam_engine has OpenCV's %s" % (
            colormap, ", ".join("%d (%s)" % kv for kv in sorted(_CV2_COLORMAPS.items()))))
    if np.max(img) > 1:
        raise OptionError("img: values above 1; show_cam_on_image takes a float image in [0, 1]")
    if not 0 <= image_weight <= 1:
        raise OptionError("image_weight %s: must be within [0, 1]" % image_weight)
    table = _core.colormap_table(name)  # RGB
    heatmap = table[np.uint8(255 * mask)]
    if not use_rgb:
        heatmap = heatmap[..., ::-1]
    heatmap = np.float32(heatmap) / 255
    cam = (1 - image_weight) * heatmap + image_weight * img
    cam = cam / np.max(cam)
    return np.uint8(255 * cam)
