"""Labelled data: the schema and readers (``schema``), the fixed train/dev/test split and its test-split
guard (``splits``), cross-fitting folds of the training rows (``folds``)."""
