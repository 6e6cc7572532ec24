"""Fleet configuration through Ansible: the inventory exported for it, and playbook runs."""
