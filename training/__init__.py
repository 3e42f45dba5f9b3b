"""Model lifecycle: data, fine-tuning, baselines, evaluation, calibration, ONNX export.

Imports torch/transformers; the runtime in ``classifier/`` never imports this package.
"""
