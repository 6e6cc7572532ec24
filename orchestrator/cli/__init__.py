"""The `dr` command: parses, calls the engine, renders. No logic of its own."""
