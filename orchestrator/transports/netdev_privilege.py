"""Privileged mode for accounts that log in without the privilege to change ports.

Cisco IOS: `enable` with the secret (netmiko's own `enable()`, given `secret=`). Huawei
VRP and H3C Comware: `super`, which asks for the super password; netmiko has no call for
it (its Huawei driver has no enable mode, its Comware `enable()` enters system-view), so
it is sent here, the password answered at the prompt and the prompt read again. The
secret never goes into a command line of ours: netmiko sends it as the answer to the
device's password prompt, and the session log masks it.
"""

from __future__ import annotations

import re
from typing import Any

_PASSWORD_PROMPT = r"[Pp]ass(?:word|wd)\s*:"
_SUPER_REFUSED = re.compile(r"(Error|fail|denied|incorrect)", re.I)


def escalate(connection: Any, device_type: str) -> None:
    """Raise `connection` to privileged mode; an exception carries the device's words."""
    if device_type == "cisco_ios":
        if not connection.check_enable_mode():
            connection.enable()
        if not connection.check_enable_mode():
            raise PermissionError("still not in privileged EXEC mode after `enable`")
        return
    if device_type in {"huawei", "huawei_vrpv8", "hp_comware"}:
        output = connection.send_command(
            "super", expect_string=rf"{_PASSWORD_PROMPT}|[>\]]", read_timeout=20
        )
        if re.search(_PASSWORD_PROMPT, output):
            output = connection.send_command(
                connection.secret, expect_string=r"[>\]]", read_timeout=20, cmd_verify=False
            )
        refused = [line.strip() for line in output.splitlines() if _SUPER_REFUSED.search(line)]
        if refused:
            raise PermissionError(refused[0])
