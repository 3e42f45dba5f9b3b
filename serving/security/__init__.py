"""Who may call: API keys and roles, the per-key rate limit, the wrong-key guard."""
