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
# instances with their own configs, so keep the packaged services from starting.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
