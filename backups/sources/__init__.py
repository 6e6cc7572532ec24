"""Data sources that are not plain files: each dumps itself into a repository and can
tell whether what was stored reads back (today: PostgreSQL)."""
