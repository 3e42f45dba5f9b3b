"""Text handling shared by training, inference and the service: ``normalize`` (the one normalization
the model's training and inference both apply), ``visible`` (is anything left to classify),
``segment`` (jieba with the packaged financial dictionary, ``lexicon/``) and ``pii`` (masking
personal data before anything is stored, exported or logged).

The bottom layer of the runtime: it imports nothing else from ``classifier``, so
every other part may use it (import-linter contract in pyproject.toml)."""
