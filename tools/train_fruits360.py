#!/usr/bin/env python3
"""Trains the shipped Fruits-360 model: a torchvision ResNet-50 topology on real Fruits-360 photos, from scratch or
from earlier weights (--init).

Topology: torchvision ResNet-50 v1.5 (bottlenecks 3-4-6-3 with BN, stride in the 3x3, GAP + one Linear), the stage
widths divided by 4 (stem 16, layer4 output 512 features). Why 1/4: the file must stay under 8 MiB in F16 (full
width is 25.6 M parameters, 51 MB; 1/4 width is 1.6 M, 3.2 MB) and training must finish on a 2-core CPU in about an
hour (the FLOPs fall by ~16x). ImageNet ResNet-50 weights (full width) cannot seed a 1/4-width network, so it is
trained from scratch.

Data and split: every photo of Training/ (all filming sessions of each class; the file name says the session:
'r2_123_100.jpg' is frame 123 of session r2) except a cross-session validation split, deterministic: within each
class and session the frames are sorted by number and every 7th run of 10 consecutive frames is held out (2,150 of
15,657 photos, in every session of every class). Each epoch prints the validation accuracy in all, per session
and per class where below 100%, and the Test/ accuracy (Test/ is one session per class: a second check).

Input: the 100x100 photos stretched to --input-size (PIL bilinear), ImageNet normalisation; evaluation uses
exactly torchvision's pipeline, PIL `resize((size, size), BILINEAR)` + `ToTensor` + `Normalize`, which is what the
engine reproduces from the metadata written here.

Augmentation (on the 100x100 image, before the stretch), for objects filmed turning on white in several poses:
horizontal and vertical flips, rotation up to --max-rotation degrees (180: any angle, which covers fruit lying on
its side or turned), zoom --scale-min..--scale-max, shifts up to --max-shift px with white fill,
brightness/contrast/saturation jitter of +-20% (no hue jitter: colour is what tells Apple Red 1 from 2), and
background replacement: the white background (the engine's `--object-mask white` rule) is replaced in 3 of 4
images by a flat colour, a smooth colour field or coloured noise, so the silhouette against white tells nothing.
AdamW with a one-cycle schedule, label smoothing 0.05, batch 32, fixed seed. --bf16 trains under CPU bf16 autocast
(about 5x faster than fp32 on an AMX Xeon); evaluation and the saved weights stay fp32. After every epoch the whole
training state goes to a checkpoint (OUT.ckpt); --resume goes on from it with the options it was started with.
Run with Debian's PyTorch: /usr/bin/python3 tools/train_fruits360.py. The shipped weights and their history of
runs: weights/fruits360_r50.md.
Writes weights/fruits360_r50.safetensors (F16 conv/fc weights, F32 BN; labels and preprocess metadata).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fruits360_split  # noqa: E402
import safetensors_io  # noqa: E402
import torch_resnet  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def load_split(folder, labels):
    """All images of folder/<class>/*.jpg as uint8 (N, 100, 100, 3) and their class indices."""
    images, targets, paths = [], [], []
    for k, name in enumerate(labels):
        d = os.path.join(folder, name)
        for f in sorted(os.listdir(d)):
            im = Image.open(os.path.join(d, f)).convert("RGB")
            if im.size != (100, 100):
                im = im.resize((100, 100), Image.BILINEAR)
            images.append(np.asarray(im))
            targets.append(k)
            paths.append(os.path.join(name, f))
    return np.stack(images), np.array(targets), paths


def background_masks(images, threshold=230):
    """(N, 1, 100, 100) float, 1 on the background: pixels with every channel >= threshold that the border reaches
    through such pixels (4-connected), the rule of the engine's `--object-mask white`."""
    white = torch.from_numpy((images >= threshold).all(-1)).float().unsqueeze(1)
    masks = []
    for chunk in white.split(256):
        reach = torch.zeros_like(chunk)
        for edge in (reach[..., 0, :], reach[..., -1, :], reach[..., :, 0], reach[..., :, -1]):
            edge.fill_(1)
        reach *= chunk
        while True:
            p = F.pad(reach, (1, 1, 1, 1))
            grown = torch.maximum(torch.maximum(p[..., 1:-1, :-2], p[..., 1:-1, 2:]),
                                  torch.maximum(p[..., :-2, 1:-1], p[..., 2:, 1:-1]))
            grown = torch.maximum(grown, reach) * chunk
            if torch.equal(grown, reach):
                break
            reach = grown
        masks.append(reach)
    return torch.cat(masks)


def random_backgrounds(b, size, gen):
    """(B, 3, size, size) backgrounds that say nothing about the class: a quarter stay white (the photos' own
    background), the others a flat colour, a smooth colour field or coloured noise, each with random brightness."""
    kind = torch.randint(0, 4, (b, 1, 1, 1), generator=gen)
    flat = torch.rand(b, 3, 1, 1, generator=gen).expand(b, 3, size, size)
    field = F.interpolate(torch.rand(b, 3, 4, 4, generator=gen), size=(size, size), mode="bilinear",
                          align_corners=False)
    noise = (flat + (torch.rand(b, 3, size, size, generator=gen) - 0.5) * 0.6).clamp(0, 1)
    white = torch.ones(b, 3, size, size)
    return torch.where(kind == 0, white, torch.where(kind == 1, flat, torch.where(kind == 2, field, noise)))


def eval_input(images, size):
    """torchvision's eval pipeline: PIL bilinear resize to (size, size), ToTensor, Normalize."""
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, a in enumerate(images):
        out[i] = np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))
    x = torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def augment(images, masks, size, gen, aug):
    """Random flips, rotation, scale, shift (white fill), background replacement and colour jitter on uint8
    (B, 100, 100, 3) with their background masks (B, 1, 100, 100), then the stretch to size x size and
    normalisation. aug: the command line's --max-rotation, --scale-min, --scale-max, --max-shift. Returns
    (B, 3, size, size)."""
    x = torch.cat([torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, masks], 1)
    b = x.shape[0]
    flip_h = torch.rand(b, generator=gen) < 0.5
    flip_v = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip_h.view(b, 1, 1, 1), x.flip(3), x)
    x = torch.where(flip_v.view(b, 1, 1, 1), x.flip(2), x)
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(aug.max_rotation)
    scale = aug.scale_min + torch.rand(b, generator=gen) * (aug.scale_max - aug.scale_min)
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (aug.max_shift / 50)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, (b, 4, size, size), align_corners=False)
    x = F.grid_sample(x - 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 1  # white outside
    background = x[:, 3:4]
    x = x[:, :3] * (1 - background) + random_backgrounds(b, size, gen) * background
    bright = 0.8 + torch.rand(b, 1, 1, 1, generator=gen) * 0.4
    contrast = 0.8 + torch.rand(b, 1, 1, 1, generator=gen) * 0.4
    sat = 0.8 + torch.rand(b, 1, 1, 1, generator=gen) * 0.4
    x = x * bright
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = (x - gray.mean((2, 3), keepdim=True)) * contrast + gray.mean((2, 3), keepdim=True)
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = ((x - gray) * sat + gray).clamp(0, 1)
    x = (x * 255).round() / 255  # 8-bit, as the decoded pixels the engine sees
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def predict(model, images, size):
    """Top-1 class of each image by the eval pipeline, in fp32."""
    model.eval()
    top = []
    with torch.no_grad():
        for i in range(0, len(images), 128):
            logits = model(eval_input(images[i : i + 128], size).contiguous(memory_format=torch.channels_last))
            top.append(logits.argmax(1).numpy())
    return np.concatenate(top)


def tally(keys, correct):
    """{key: (right, total)} over the images."""
    out = {}
    for k, ok in zip(keys, correct):
        right, total = out.get(k, (0, 0))
        out[k] = (right + int(ok), total + 1)
    return out


def report_validation(model, val, labels, size):
    """Prints the validation accuracy in all, per filming session (all classes' photos of that session together)
    and per class and session where it is below 100%; returns the accuracy."""
    images, targets, paths = val
    correct = predict(model, images, size) == targets
    sessions = [fruits360_split.session_and_frame(os.path.basename(p))[0] for p in paths]
    per_session = tally(sessions, correct)
    misses = tally(["%s/%s" % (labels[t], s) for t, s in zip(targets, sessions)], correct)
    print("  validation acc %.4f (%d/%d); by session: %s" % (
        correct.mean(), int(correct.sum()), len(correct),
        ", ".join("%s %d/%d" % (k, r, t) for k, (r, t) in sorted(per_session.items()))), flush=True)
    print("  below 100%%: %s" % (", ".join("%s %d/%d" % (k, r, t) for k, (r, t) in sorted(misses.items())
                                          if r < t) or "none"), flush=True)
    return float(correct.mean())


def save(model, labels, size, path, source, dilation):
    tensors = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        a = v.float().contiguous().numpy()
        tensors[k] = a.astype(np.float16) if (a.ndim == 4 or k == "fc.weight") else a.astype(np.float32)
    meta = {"labels": json.dumps(labels),
            "preprocess": json.dumps({"input_size": [size, size], "mean": MEAN, "std": STD, "scale": 1 / 255,
                                      "channel_order": "RGB"}),
            "source": source}
    if any(dilation):
        meta["replace_stride_with_dilation"] = json.dumps(list(dilation))
    safetensors_io.save(path, tensors, meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fruits360"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16, help="stem width (torchvision's ResNet-50: 64)")
    ap.add_argument("--input-size", type=int, default=224, help="7x7 maps (160: 5x5 at half the cost)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-rotation", type=float, default=20, help="largest rotation in degrees (180: any angle)")
    ap.add_argument("--scale-min", type=float, default=0.85, help="smallest zoom (below 1: the fruit shrinks)")
    ap.add_argument("--scale-max", type=float, default=1.15, help="largest zoom (above 1: crops that cut the fruit)")
    ap.add_argument("--max-shift", type=float, default=8, help="largest shift in pixels of the 100x100 photo")
    ap.add_argument("--bf16", action="store_true",
                    help="train under bf16 autocast (evaluation and the saved weights stay fp32)")
    ap.add_argument("--init", help="start from these weights (a file this script wrote) instead of at random")
    ap.add_argument("--dilate-layer4", action="store_true",
                    help="torchvision's replace_stride_with_dilation=[False, False, True]: layer4 keeps layer3's "
                         "resolution (maps of stride 16, twice as fine), its 3x3 convolutions dilated")
    ap.add_argument("--out", default=os.path.join(ROOT, "weights", "fruits360_r50.safetensors"))
    ap.add_argument("--checkpoint", help="after each epoch, the whole training state goes here (default: OUT.ckpt)")
    ap.add_argument("--resume", action="store_true", help="go on from --checkpoint, with the options it was run with")
    ap.add_argument("--write-validation-list", metavar="FILE",
                    help="write the validation photos' paths (one a line, for the CLI) and exit")
    args = ap.parse_args()
    checkpoint = args.checkpoint or args.out + ".ckpt"
    state = None
    if args.resume:
        state = torch.load(checkpoint, weights_only=False)
        for k in ("epochs", "batch", "lr", "width", "input_size", "seed", "max_rotation", "scale_min", "scale_max",
                  "max_shift", "bf16", "init", "dilate_layer4"):
            setattr(args, k, state["args"][k])
        print("resuming %s after epoch %d" % (checkpoint, state["epoch"]), flush=True)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    with open(os.path.join(args.data, "labels.txt")) as f:
        labels = [line.strip() for line in f if line.strip()]
    all_x, all_y, all_paths = load_split(os.path.join(args.data, "Training"), labels)
    held = fruits360_split.validation_mask(all_paths)
    if args.write_validation_list:
        with open(args.write_validation_list, "w") as f:
            for p in np.array(all_paths)[held]:
                f.write(os.path.abspath(os.path.join(args.data, "Training", p)) + "\n")
        print("wrote %d validation paths to %s" % (held.sum(), args.write_validation_list))
        return
    train_x, train_y = all_x[~held], all_y[~held]
    val = (all_x[held], all_y[held], list(np.array(all_paths)[held]))
    test_x, test_y, _ = load_split(os.path.join(args.data, "Test"), labels)
    train_bg = background_masks(train_x)
    print("%d training, %d validation (across sessions), %d test images, %d classes, background %.3f of the "
          "training pixels (%.0f s)" % (len(train_x), held.sum(), len(test_x), len(labels), float(train_bg.mean()),
                                       time.time() - t0), flush=True)
    dilation = (False, False, args.dilate_layer4)
    model = torch_resnet.resnet(50, args.width, len(labels), dilation)
    if args.init and state is None:
        tensors, _ = safetensors_io.load(args.init)
        init = {k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()}
        model.load_state_dict(init, strict=False)  # num_batches_tracked is not stored
    model = model.to(memory_format=torch.channels_last)
    steps_per_epoch = len(train_x) // args.batch
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.2)
    first_epoch, spent = 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        rng.bit_generator.state = state["rng"]
        first_epoch, spent = state["epoch"], state["seconds"]
    val_acc = test_acc = 0.0
    for epoch in range(first_epoch, args.epochs):
        start = time.time()
        model.train()
        order = rng.permutation(len(train_x))
        loss_sum, correct, seen = 0.0, 0, 0
        for s in range(steps_per_epoch):
            idx = order[s * args.batch : (s + 1) * args.batch]
            x = augment(train_x[idx], train_bg[idx], args.input_size, gen, args).contiguous(
                memory_format=torch.channels_last)
            y = torch.from_numpy(train_y[idx]).long()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        train_seconds = time.time() - start
        val_acc = report_validation(model, val, labels, args.input_size)
        test_acc = float((predict(model, test_x, args.input_size) == test_y).mean())
        spent += time.time() - start
        print("epoch %2d  train loss %.4f  train acc %.4f  validation acc %.4f  test acc %.4f  (%.0f s training, "
              "%.0f s in all)" % (epoch + 1, loss_sum / seen, correct / seen, val_acc, test_acc, train_seconds,
                                 spent), flush=True)
        torch.save({"args": vars(args), "epoch": epoch + 1, "seconds": spent, "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "generator": gen.get_state(),
                    "rng": rng.bit_generator.state}, checkpoint + ".tmp")
        os.replace(checkpoint + ".tmp", checkpoint)
    source = ("tools/train_fruits360.py --epochs %d --lr %g --input-size %d --width %d --seed %d --max-rotation %g "
              "--scale-min %g --scale-max %g --max-shift %g%s%s%s: ResNet-50 topology at width %d trained on %d real "
              "Fruits-360 photos (CC BY-SA 4.0, Mihai Oltean and Horea Muresan), cross-session validation accuracy "
              "%.4f, Test accuracy %.4f, %.0f s on CPU" % (
                  args.epochs, args.lr, args.input_size, args.width, args.seed, args.max_rotation, args.scale_min,
                  args.scale_max, args.max_shift, " --bf16" if args.bf16 else "",
                  " --init " + os.path.basename(args.init) if args.init else "",
                  " --dilate-layer4" if args.dilate_layer4 else "", args.width, len(train_x), val_acc, test_acc,
                  spent))
    save(model, labels, args.input_size, args.out, source, dilation)
    print("wrote %s (%.2f MB); %s" % (args.out, os.path.getsize(args.out) / 1e6, source), flush=True)


if __name__ == "__main__":
    main()
