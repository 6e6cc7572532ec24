"""The fleet check's probe: the command it sends and how it reads the route."""

from __future__ import annotations

from runbooks.fleet_check import _route, probe_command


def test_route_keeps_the_next_hop_and_interface():
    line = "10.77.1.10 via 10.78.1.1 dev eth0 src 10.78.1.2 uid 0 \\    cache "
    assert _route(line) == "via 10.78.1.1 dev eth0 src 10.78.1.2"


def test_probe_quotes_the_url_and_bounds_the_request():
    command = probe_command("http://10.77.1.10:8080/health?a=1&b=2", 3)
    assert "ip -o route get 10.77.1.10 " in command
    assert "--max-time 3 'http://10.77.1.10:8080/health?a=1&b=2'" in command
