"""Anchors: the journal's head written outside its database (S3 with Object Lock, a
file on the backup host, the notification channel), and the check against them."""
