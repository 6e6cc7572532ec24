"""The service watch's journal event kinds (watcher.py writes them, outages.py reads)."""

DOWN, UP = "service.down", "service.up"
STARTED, STOPPED = "service_watch.started", "service_watch.stopped"
PROBLEM = "service_watch.problem"
