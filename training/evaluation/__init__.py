"""Measuring bundles and runs: evaluation on labelled files (``evaluate``) and its human-readable
``report``, the bundle's ``model_card``, the distilled student's ``release_guard``, and the
``learning_curve``. Nothing here fits anything that ships."""
