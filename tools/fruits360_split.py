"""The Fruits-360 filming sessions and the cross-session validation split, shared by tools/train_fruits360.py (what
it never trains on) and tools/pick_fruits360_samples.py (the tests' photos of every session). numpy only."""
import os
import re

import numpy as np

SESSION = re.compile(r"^(r\d*)_(\d+)|^(\d+)_")
VAL_RUN, VAL_EVERY = 10, 7


def session_and_frame(filename):
    """A Fruits-360 file's filming session and frame number: 'r2_123_100.jpg' -> ('r2', 123), 'r0_40.jpg' ->
    ('r0', 40), '57_100.jpg' -> ('-', 57). Each session is one turn of the fruit in one pose."""
    m = SESSION.match(filename)
    if not m:
        raise ValueError("%s: not a Fruits-360 file name (expected [rN_]FRAME_...)" % filename)
    return (m.group(1), int(m.group(2))) if m.group(1) else ("-", int(m.group(3)))


def validation_mask(paths):
    """The cross-session validation split, deterministic: within each class and session the frames are sorted by
    number and every VAL_EVERY-th run of VAL_RUN consecutive frames is held out (about 1 photo in 7). A held-out
    run is a stretch of the turn the model never saw, in every session of every class."""
    groups = {}
    for i, p in enumerate(paths):
        cls, name = os.path.split(p)
        groups.setdefault((cls, session_and_frame(name)[0]), []).append(i)
    held = np.zeros(len(paths), bool)
    for members in groups.values():
        members.sort(key=lambda i: session_and_frame(os.path.basename(paths[i]))[1])
        for rank, i in enumerate(members):
            held[i] = (rank // VAL_RUN) % VAL_EVERY == VAL_EVERY // 2
    return held
