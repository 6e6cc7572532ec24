"""Alerts start the response: Alertmanager and Zabbix webhooks open or update incidents
and name the runbook to run (`dr alerts serve`).

    payloads.py  the two senders' JSON → Alert values (BadPayload for anything else)
    intake.py    an Alert → open, update or note the resolution on its incident
    route_check.py  every route's runbook and parameters exist (at start)
    server.py    the Starlette app: auth, size bound, 400/401/413 without tracebacks
"""
