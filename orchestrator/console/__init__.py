"""The duty-room console (`dr serve`): incidents, live runs, RPO ages and approvals on a
web page, for the duty room's screen and the leadership's phones.

Starlette (an ASGI toolkit kept by the encode team, under uvicorn) rather than a larger
framework: the console is a few pages and one event stream, and every rule it applies
(who may approve, what a deadline is, how old a backup is) lives in the engine,
`incidents/` and `scheduler/monitoring.py`, never here.
"""
