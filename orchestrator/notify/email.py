"""Email through the inventory's SMTP server (smtplib; STARTTLS or TLS, and login when set).

The login's password goes over TLS only: without `starttls` or `tls` a login is
refused before connecting, unless a drill inventory says `allow_cleartext_login`.
Certificates are verified against the system's CAs (smtplib's default would not).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from orchestrator.inventory.notifications import SmtpSettings
from orchestrator.inventory.secrets import resolve_secret
from orchestrator.notify.failures import DeliveryFailed


def send_email(settings: SmtpSettings, to: str, subject: str, body: str) -> None:
    mail = EmailMessage()
    mail["From"] = settings.sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=settings.sender.partition("@")[2] or None)
    mail.set_content(body, charset="utf-8")
    encrypted = settings.starttls or settings.tls
    if settings.username and not encrypted and not settings.allow_cleartext_login:
        raise DeliveryFailed(
            f"SMTP server {settings.host}:{settings.port}: refusing to send the login of "
            f"{settings.username} without TLS; set notifications.smtp.starttls (or tls)",
            permanent=True,
        )
    password = resolve_secret(settings.password) if settings.password is not None else None
    try:
        with _connect(settings) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username and password is not None:
                smtp.login(settings.username, password)
            smtp.send_message(mail)
    except smtplib.SMTPAuthenticationError as err:
        raise DeliveryFailed(
            f"SMTP server {settings.host}:{settings.port} refused the login of "
            f"{settings.username} ({err.smtp_code}); check notifications.smtp.password",
            permanent=True,
        ) from err
    except smtplib.SMTPRecipientsRefused as err:
        raise DeliveryFailed(
            f"SMTP server {settings.host}:{settings.port} refused the address {to}",
            permanent=True,
        ) from err
    except (smtplib.SMTPException, OSError) as err:
        raise DeliveryFailed(
            f"SMTP server {settings.host}:{settings.port}: {err.__class__.__name__}: {err}"
        ) from err


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.tls:
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
