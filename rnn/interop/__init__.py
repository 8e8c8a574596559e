"""Converters between ``rnn`` models and PyTorch, ONNX and Keras.

Each framework is imported only when its converter is called; without it, the converter
raises ImportError naming the packages to install (the extras ``torch``, ``onnx`` and
``keras``).
"""

from rnn.interop._keras import from_keras, to_keras
from rnn.interop._onnx import from_onnx, to_onnx
from rnn.interop._torch import from_torch, to_torch

__all__ = ["from_keras", "from_onnx", "from_torch", "to_keras", "to_onnx", "to_torch"]
