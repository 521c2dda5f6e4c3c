"""tools/convert.py and its readers, installed with the package: one mapping from PyTorch, Keras and ONNX
models to the engine's weights, for the command line and for cam_engine.from_torch / from_keras."""
from . import convert  # noqa: F401
