"""feedback-triage runtime: bundle loading, text pipeline, ONNX inference, calibration, priority.

This package must stay importable without torch: training lives in ``training/``.
"""
from classifier.labels import HEADS, LABELS

__all__ = ["HEADS", "LABELS"]
__version__ = "0.1.0"
