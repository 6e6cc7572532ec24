#!/usr/bin/env bash
# Installs the Debian packages dr and its lab need; does nothing when all are present,
# so `make` stays fast after the first run. Must run as root on Debian 12.
set -euo pipefail

packages=(
  python3 python3-venv python3-pip        # the orchestrator itself
  openssh-server openssh-client           # sshd for the lab and the tests; ssh-keygen
  postgresql postgresql-contrib           # the credit system's database, journal tests
  restic                                  # backups
  pgbackrest                              # the credit database's WAL archive and PITR
  nut-server nut-client                   # UPS: upsd, dummy-ups, upsc
  iproute2 iputils-ping iputils-arping     # lab namespaces, veths, bridges; gratuitous ARP
  procps util-linux                       # process tools; setpriv
  poppler-utils                           # pdftoppm, to check rendered reports
  fonts-wqy-microhei                      # a CJK TrueType font: Chinese in report PDFs and charts
  python3-apt                             # Ansible's apt module on managed hosts (and the lab's)
  shellcheck                              # `make lint` on the shell scripts
  chromium chromium-driver                # the console's browser test (Selenium drives Debian's)
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]}; run 'make' as root (or apt-get install them)" >&2
  exit 2
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's maintainer scripts would start the packaged daemons; the lab starts its own
# instances with their own configs, so a policy-rc.d (exit 101: action forbidden) keeps
# the packaged services from starting. A policy-rc.d the machine already has is its
# administrator's: it stays as it is and decides instead. Ours carries a marker line and
# only ours is removed: when the install ends, also by failing, and when an interrupted
# earlier run left it behind.
policy=/usr/sbin/policy-rc.d
marker="# temporary, from dr's scripts/install-system-packages.sh"
remove_our_policy() {
  if grep -qxF "$marker" "$policy" 2>/dev/null; then
    rm -f "$policy"
  fi
}
if { [ -e "$policy" ] || [ -L "$policy" ]; } && ! grep -qxF "$marker" "$policy" 2>/dev/null; then
  echo "keeping the existing $policy: it decides which packaged services start"
else
  trap remove_our_policy EXIT
  trap 'exit 1' INT TERM HUP   # a signal too ends by the EXIT trap
  printf '#!/bin/sh\n%s\nexit 101\n' "$marker" > "$policy"
  chmod 0755 "$policy"
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
