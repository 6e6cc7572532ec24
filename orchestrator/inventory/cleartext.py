"""What a production inventory sends in the clear, said by `dr inventory check`.

Warnings, not refusals: a site may have no other way yet (a UPS's NUT server without
TLS, an in-house S3 without a certificate), and `dr` must still run in an emergency.
The one refusal is a setting that exists only to allow cleartext in a drill
(`notifications.smtp.allow_cleartext_login`), written into a production inventory.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import TYPE_CHECKING, Any

from orchestrator.errors import DrError
from orchestrator.inventory.secrets import resolve_secret

if TYPE_CHECKING:
    from orchestrator.inventory.models import Inventory


def production_refusals(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """(path, message) for each drill-only setting in a production file (raw data)."""
    if not isinstance(data, dict) or data.get("environment") != "production":
        return []
    notifications = data.get("notifications")
    smtp = notifications.get("smtp") if isinstance(notifications, dict) else None
    if isinstance(smtp, dict) and smtp.get("allow_cleartext_login") is True:
        path = ("notifications", "smtp", "allow_cleartext_login")
        return [(path, "a production inventory may not send the SMTP login without TLS")]
    return []


def cleartext_warnings(inventory: Inventory) -> list[str]:
    """One line per place a production inventory talks without (verified) TLS."""
    if inventory.environment != "production":
        return []
    found: list[str] = []
    for ups in inventory.power.ups:
        if not _loopback(ups.nut_host):
            found.append(
                f"UPS {ups.name}: NUT at {ups.nut_host}:{ups.nut_port} is read in cleartext; "
                "keep it on an isolated management network"
            )
    for bset in inventory.restic_sets:
        targets = [("repository", bset.main_repository)]
        if bset.copy_to is not None:
            targets.append(("copy_to", bset.copy_to))
        for label, target in targets:
            if target.repository.startswith("s3:http://"):
                found.append(
                    f"backup set {bset.name}: {label} {target.repository} is S3 over plain "
                    "HTTP; its keys and data cross the network in the clear (use https)"
                )
    for pair in inventory.host_pairs:
        if pair.database is not None and pair.database.sslmode != "verify-full":
            found.append(
                f"host pair {pair.name}: database sslmode is {pair.database.sslmode}; "
                "production expects verify-full (and sslrootcert, the CA file)"
            )
    smtp = inventory.notifications.smtp
    if smtp is not None and not (smtp.starttls or smtp.tls):
        found.append(
            f"notifications.smtp: mail to {smtp.host} goes without TLS (set starttls or tls)"
        )
    for hook in inventory.notifications.webhooks:
        scheme = _scheme(hook.url)
        if scheme not in (None, "https"):
            found.append(
                f"webhook {hook.name}: its URL ({hook.url}) is {scheme}://, not https://; "
                "its token and the notices cross the network in the clear"
            )
    return found


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _scheme(ref: Any) -> str | None:
    """The URL's scheme, or None when the secret cannot be read here (not this host's)."""
    try:
        url = resolve_secret(ref)
    except DrError:
        return None
    return urllib.parse.urlsplit(url.strip()).scheme.lower() or "no scheme"
