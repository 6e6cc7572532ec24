"""The console's own small rules: where it may listen, and how often one may try to sign in."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.console.attempts import Attempts
from orchestrator.console.network import is_public, resolve_listen
from orchestrator.console.sessions import csrf_ok, csrf_token
from orchestrator.errors import UserInputError
from orchestrator.inventory.people_settings import ConsoleSettings
from orchestrator.inventory.secrets import SecretRef


def settings(
    tmp_path: Path, listen: str = "10.1.2.3:8443", key_mode: int = 0o600
) -> ConsoleSettings:
    cert, key = tmp_path / "c.crt", tmp_path / "c.key"
    cert.write_text("certificate")
    key.write_text("key")
    key.chmod(key_mode)
    return ConsoleSettings(
        listen=listen, certificate=SecretRef("file", str(cert)), key=SecretRef("file", str(key))
    )


def test_an_intranet_address_with_a_certificate_is_served_over_https(tmp_path: Path) -> None:
    listen = resolve_listen(settings(tmp_path), None, allow_public=False, insecure_http=False)
    assert (listen.host, listen.port, listen.scheme) == ("10.1.2.3", 8443, "https")
    assert not is_public(listen)


@pytest.mark.parametrize("address", ["0.0.0.0:8443", "8.8.4.4:443", "[2001:4860::1]:8443"])
def test_a_public_or_wildcard_address_needs_allow_public(tmp_path: Path, address: str) -> None:
    with pytest.raises(UserInputError, match="--allow-public"):
        resolve_listen(settings(tmp_path), address, allow_public=False, insecure_http=False)
    allowed = resolve_listen(settings(tmp_path), address, allow_public=True, insecure_http=False)
    assert is_public(allowed)


def test_a_host_name_is_refused_it_could_resolve_anywhere(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not an IP address"):
        resolve_listen(
            settings(tmp_path), "console.example:8443", allow_public=False, insecure_http=False
        )


def test_plain_http_only_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="only loopback"):
        resolve_listen(settings(tmp_path), "10.1.2.3:8080", allow_public=False, insecure_http=True)
    plain = resolve_listen(
        ConsoleSettings(), "127.0.0.1:8080", allow_public=False, insecure_http=True
    )
    assert plain.scheme == "http"


def test_https_needs_a_certificate_and_a_private_key_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="HTTPS only"):
        resolve_listen(ConsoleSettings(), None, allow_public=False, insecure_http=False)
    with pytest.raises(UserInputError, match="chmod 600"):
        resolve_listen(
            settings(tmp_path, key_mode=0o644), None, allow_public=False, insecure_http=False
        )


def test_sign_in_attempts_are_counted_per_address_and_per_name() -> None:
    attempts = Attempts(per_address=3, per_name=2)
    assert attempts.allow("10.0.0.5", "Director-Li") and attempts.allow("10.0.0.6", "director-li")
    assert not attempts.allow("10.0.0.7", "director-li")  # the name is over its limit
    assert attempts.allow("10.0.0.5") and attempts.allow("10.0.0.5")  # its 2nd and 3rd
    assert not attempts.allow("10.0.0.5")


def test_the_csrf_token_belongs_to_its_session() -> None:
    assert csrf_ok("session-a", csrf_token("session-a"))
    assert not csrf_ok("session-b", csrf_token("session-a"))
    assert not csrf_ok(None, csrf_token("session-a")) and not csrf_ok("session-a", "")
