"""``triage`` sub-commands of training, registered through the ``feedback_triage.commands`` entry
points (pyproject.toml). Each module parses arguments and calls the layers below — mostly
training/pipeline.py; heavy imports happen inside ``run`` so that ``triage --help`` stays fast."""
