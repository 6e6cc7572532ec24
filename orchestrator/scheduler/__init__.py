"""`dr scheduler`: backups, restore tests and the RPO watchdog on their schedules, and the
Prometheus textfile that shows how they went."""
