"""Feature: POST /v1/classify."""
