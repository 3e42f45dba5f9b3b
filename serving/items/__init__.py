"""The supervisor workspace: stored items as supervisors see and correct them.

keys.py derives the queue's sort and filter keys from a prediction; views.py builds the one JSON
shape of an item; store.py reads and changes items (decisions, undo, claims, the queue);
explain.py says which words raised each head's label.
"""
