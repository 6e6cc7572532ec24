"""One module per user-facing action: run, list, check, prune (and init)."""
