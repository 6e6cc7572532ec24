"""Backups of the credit system with restic (see issue: backups)."""
