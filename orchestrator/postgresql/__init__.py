"""What `dr` knows about PostgreSQL, one module per concern.

- `local_cluster`: a cluster on this machine in a directory we own (the restore test's
  scratch server; the drill lab builds its servers on it);
- `service_account`: running PostgreSQL's programs as its own account;
- `cluster_files`: the configuration files we write for such a cluster;
- `errors`: what goes wrong, in the operator's words.
"""
