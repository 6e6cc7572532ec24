"""The runbooks that ship with dr: one module per procedure."""
