"""The restore test: put a backup run back into a scratch place and prove it complete."""
