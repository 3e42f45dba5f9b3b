"""Feature: operating the service — health and readiness, Prometheus metrics, hot reload."""
