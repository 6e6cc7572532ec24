"""What `dr` knows about PostgreSQL, one module per concern (as Patroni's postgresql/).

Facts read a server's state; each is its command, its parser and its typed result:
- `status`: a server's role and WAL positions; pg_controldata; WAL positions compared;
- `replication`: which standbys a primary feeds; making a standby (base backup, .pgpass).

Operations change it, apart from the facts:
- `promote`: a standby becomes the primary;
- `rewind`: an old primary becomes a standby of the new one (pg_rewind).

`debian_commands` builds from them the commands a Debian host runs (the inventory's pair
control defaults); the drill lab's host script runs the same queries and arguments.

A cluster of our own on this machine:
- `local_cluster`: a cluster in a directory we own (the restore test's scratch server;
  the drill lab builds its servers on it);
- `service_account`: running PostgreSQL's programs as its own account;
- `cluster_files`: the configuration files we write for such a cluster;
- `errors`: what goes wrong, in the operator's words.
"""
