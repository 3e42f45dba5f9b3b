"""Training a model on a config: the loop (``loop.train``), the examples it draws (``examples``), and what
it optimises — plain fine-tuning or distillation — as a strategy (``strategies``)."""
