"""A torchvision-compatible ResNet (same module and parameter names) at any stage width, also grouped and wide
(ResNeXt, wide_resnet: the bottleneck's inner width and groups) and with timm's ResNet-D parts (the deep stem
conv1.0/.3/.6 and the average-pool shortcut downsample.1/.2), and helpers to give it random weights with random BN
running statistics. Used by make_golden.py, the full-size test and the benchmarks,
so that no pretrained weights are needed. With torchvision installed, resnet50() is torchvision's own model.
"""
import numpy as np
import torch
from torch import nn

DEPTHS = {18: ([2, 2, 2, 2], False), 26: ([2, 2, 2, 2], True), 34: ([3, 4, 6, 3], False),  # 26: timm's resnet26(d)
          50: ([3, 4, 6, 3], True), 101: ([3, 4, 23, 3], True), 152: ([3, 8, 36, 3], True)}


class Bottleneck(nn.Module):
    """v1.5 (stride in the 3x3) by default; v1 (Keras) with stride_in_1x1."""

    expansion = 4

    def __init__(self, inplanes, planes, stride, downsample, opt, dilation=1, width=None):
        super().__init__()
        width, bias, eps = width or planes, opt["conv_bias"], opt["eps"]
        self.conv1 = nn.Conv2d(inplanes, width, 1, stride if opt["stride_in_1x1"] else 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(width, eps=eps)
        self.conv2 = nn.Conv2d(width, width, 3, 1 if opt["stride_in_1x1"] else stride, dilation, dilation=dilation,
                               groups=opt["groups"], bias=bias)
        self.bn2 = nn.BatchNorm2d(width, eps=eps)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=bias)
        self.bn3 = nn.BatchNorm2d(planes * 4, eps=eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride, downsample, opt, dilation=1, width=None):
        super().__init__()
        if dilation > 1:
            raise ValueError("BasicBlock does not support dilation (as in torchvision)")
        bias, eps = opt["conv_bias"], opt["eps"]
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(planes, eps=eps)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(planes, eps=eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class ResNet(nn.Module):
    """hidden: widths of an MLP head (Linear + ReLU each, named head.0, head.1, ...) between pooling and fc.
    Keras applications.ResNet50 semantics: stride_in_1x1=True, conv_bias=True, eps=1.001e-5.
    replace_stride_with_dilation: torchvision's option of that name, three flags for layer2..layer4: a flagged
    stage keeps its input's resolution and dilates its 3x3 convolutions instead (the first block by the
    dilation before the stage, the others by the new one), e.g. [False, False, True] for maps of stride 16.
    inner: the bottlenecks' inner width per stage (default: the stage's planes; 2x for wide_resnet50_2, 128 x
    stage for resnext50_32x4d), groups: of their 3x3 convs. deep_stem: the two inner widths of timm's deep stem
    (conv1.0, conv1.3; () for the 7x7), avg_down: timm's average-pool shortcuts (ResNet-D)."""

    def __init__(self, depth=50, width=64, num_classes=1000, hidden=(), stride_in_1x1=False, conv_bias=False, eps=1e-5,
                 replace_stride_with_dilation=(False, False, False), inner=None, groups=1, deep_stem=(),
                 avg_down=False):
        super().__init__()
        layers, bottleneck = DEPTHS[depth]
        block = Bottleneck if bottleneck else BasicBlock
        self.opt = {"stride_in_1x1": stride_in_1x1, "conv_bias": conv_bias, "eps": eps, "groups": groups,
                    "avg_down": avg_down}
        self.dilation = 1
        dilate = list(replace_stride_with_dilation)
        inner = list(inner or [None] * 4)
        self.inplanes = width
        if deep_stem:
            a, b = deep_stem
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, a, 3, 2, 1, bias=conv_bias), nn.BatchNorm2d(a, eps=eps), nn.ReLU(inplace=True),
                nn.Conv2d(a, b, 3, 1, 1, bias=conv_bias), nn.BatchNorm2d(b, eps=eps), nn.ReLU(inplace=True),
                nn.Conv2d(b, width, 3, 1, 1, bias=conv_bias))
        else:
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=conv_bias)
        self.bn1 = nn.BatchNorm2d(width, eps=eps)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(block, width, layers[0], 1, False, inner[0])
        self.layer2 = self._stage(block, width * 2, layers[1], 2, dilate[0], inner[1])
        self.layer3 = self._stage(block, width * 4, layers[2], 2, dilate[1], inner[2])
        self.layer4 = self._stage(block, width * 8, layers[3], 2, dilate[2], inner[3])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        dims = [width * 8 * block.expansion] + list(hidden)
        self.head = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.fc = nn.Linear(dims[-1], num_classes)

    def _stage(self, block, planes, blocks, stride, dilate=False, inner=None):
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        out, bias, eps = planes * block.expansion, self.opt["conv_bias"], self.opt["eps"]
        if (stride != 1 or self.inplanes != out) and self.opt["avg_down"]:
            pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride != 1 else nn.Identity()
            downsample = nn.Sequential(pool, nn.Conv2d(self.inplanes, out, 1, 1, bias=bias), nn.BatchNorm2d(out, eps=eps))
        elif stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, out, 1, stride, bias=bias), nn.BatchNorm2d(out, eps=eps))
        mods = [block(self.inplanes, planes, stride, downsample, self.opt, previous_dilation, inner)]
        self.inplanes = out
        mods += [block(self.inplanes, planes, 1, None, self.opt, self.dilation, inner) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        for layer in self.head:
            x = torch.relu(layer(x))
        return self.fc(x)


def resnet(depth=50, width=64, num_classes=1000, replace_stride_with_dilation=(False, False, False)):
    """torchvision's model when it is there and the width is standard, else the identical local definition."""
    if width == 64:
        try:
            import torchvision

            return getattr(torchvision.models, "resnet%d" % depth)(
                num_classes=num_classes, replace_stride_with_dilation=list(replace_stride_with_dilation))
        except ImportError:
            pass
    return ResNet(depth, width, num_classes, replace_stride_with_dilation=replace_stride_with_dilation)


def dilation_from_meta(meta):
    """The three flags of replace_stride_with_dilation from a file's metadata (all False when absent)."""
    import json

    flags = json.loads((meta or {}).get("replace_stride_with_dilation", "[false, false, false]"))
    return tuple(bool(f) for f in flags)


def infer_depth(tensors):
    """Depth of a torchvision-named ResNet from its tensor names."""
    blocks = tuple(len({k.split(".")[1] for k in tensors if k.startswith("layer%d." % s)}) for s in range(1, 5))
    bottleneck = any(k.endswith("conv3.weight") for k in tensors)
    for depth, (layers, b) in DEPTHS.items():
        if tuple(layers) == blocks and b == bottleneck:
            return depth
    raise ValueError("blocks per stage %s match no ResNet depth" % (blocks,))


def from_tensors(tensors, meta=None):
    """A model with exactly the given torchvision-named tensors (as written by tools/convert.py): convs without BN
    get identity BN, absent biases zeros."""
    meta = meta or {}
    hidden = [tensors["head.%d.weight" % i].shape[0] for i in range(len([k for k in tensors if k.startswith("head.") and k.endswith(".weight")]))]
    deep = "conv1.0.weight" in tensors
    width = tensors["conv1.6.weight" if deep else "conv1.weight"].shape[0]
    bottleneck = "layer1.0.conv3.weight" in tensors
    inner = [tensors["layer%d.0.conv1.weight" % s].shape[0] for s in range(1, 5)] if bottleneck else None
    groups = inner[0] // tensors["layer1.0.conv2.weight"].shape[1] if bottleneck else 1
    model = ResNet(infer_depth(tensors), width, tensors["fc.weight"].shape[0], hidden,
                   stride_in_1x1=meta.get("stride_in_1x1") == "true", conv_bias=True, eps=float(meta.get("bn_eps", 1e-5)),
                   replace_stride_with_dilation=dilation_from_meta(meta), inner=inner, groups=groups,
                   deep_stem=(tensors["conv1.0.weight"].shape[0], tensors["conv1.3.weight"].shape[0]) if deep else (),
                   avg_down="layer2.0.downsample.1.weight" in tensors and tensors["layer2.0.downsample.1.weight"].ndim == 4)
    state = model.state_dict()
    for k, v in state.items():
        if k in tensors:
            v.copy_(torch.from_numpy(np.asarray(tensors[k], dtype=np.float32)).reshape(v.shape))
        elif k.endswith("bias") or k.endswith("running_mean"):
            v.zero_()
        elif k.endswith("running_var"):
            v.fill_(1.0 - model.opt["eps"])
        elif k.endswith("weight"):
            v.fill_(1.0)
    return model.eval()


@torch.no_grad()
def randomize(model, seed):
    """Kaiming-like conv weights and random BN affine + running statistics, scaled so activations stay O(1)."""
    g = torch.Generator().manual_seed(seed)
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()  # in_channels / groups * K * K
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            last_in_block = name.endswith("bn3") or name.endswith("bn2") and "layer" in name and not hasattr(model.layer1[0], "bn3")
            m.weight.copy_(torch.rand(c, generator=g) * (0.4 if last_in_block else 1.0) + 0.3)
            m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
        elif isinstance(m, nn.Linear):
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.0 / m.in_features) ** 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    model.eval()
    return model
