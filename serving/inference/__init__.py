"""The model as the service runs it: the hot-swappable slot and the micro-batcher."""
