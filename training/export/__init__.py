"""From a trained model to a bundle the runtime loads: the ONNX graph (``onnx``), int8 quantization and
the parity walk (``quantize``), and the bundle's assembly with calibration, review policy, model card and
release guard (``bundle``)."""
