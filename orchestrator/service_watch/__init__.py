"""The service watch: is each host pair's service up, as each vantage point sees it?

Runs inside `dr scheduler run` when the inventory has `scheduler.service_watch`, or on
its own (`dr scheduler watch`). Every `interval` it probes each pair's `service_url`
from each vantage point and journals the changes only: `service.down` at the moment the
first failed probe was sent (with the last probe that passed), `service.up` when the
first passing probe answered. A runbook that declares which service it recovers
(`Runbook(outage_watch=...)`) then starts its RTO clock at the first failed probe of the
outage in progress, and stops it when every vantage that lost the service has it back:
the outage the users lived through, not the time between two clicks of the operator.
"""
