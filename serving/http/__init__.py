"""The HTTP platform every feature stands on: errors and their one envelope, middleware, handlers,
validation, logs, metrics, the shared OpenAPI contract and Idempotency-Key."""
