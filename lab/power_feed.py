"""A lab host's power as a UPS outlet controls it (the lab's UPS-outlet fencing).

Cutting the feed is the `host-down` fault, recorded in the lab manifest like one, so
`dr lab status` shows the host as down and `dr lab heal host-down HOST` (or the outlet
switched back on) powers it up again. The UPS model process (`lab.ups_model
--outlet-feeds HOST`) runs `python -m lab.power_feed HOST on|off` when the outlet's switch
changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.lab import Lab
from lab.state import LabState

FAULT = "host-down"


def switch(lab_root: Path | None, host: str, *, on: bool) -> None:
    lab = Lab(LabState(lab_root))
    manifest = lab.state.load()
    if not manifest.ready:
        return  # a lab being built or taken down: there is no host to power
    down = f"{FAULT} {host}" in manifest.faults
    if on and down:
        lab.heal(FAULT, [host])
    elif not on and not down:
        lab.fault(FAULT, [host])
    # Otherwise the host already is as the outlet says (a host-down fault came first).


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.power_feed")
    parser.add_argument("host")
    parser.add_argument("state", choices=("on", "off"))
    parser.add_argument("--lab-root", type=Path, default=None)
    args = parser.parse_args(argv)
    switch(args.lab_root, args.host, on=args.state == "on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
