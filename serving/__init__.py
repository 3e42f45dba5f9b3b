"""HTTP service: classify endpoint, priority matrix, persistence, API keys, metrics.

Imports point serving → classifier; never serving → training (and never torch).
"""
