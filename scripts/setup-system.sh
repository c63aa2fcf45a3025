#!/usr/bin/env bash
# System packages the project needs: unixODBC (the ODBC driver manager pyodbc loads) and the
# PostgreSQL ODBC driver that the simulated pair's SQL endpoint is reached through; Chromium,
# which the report test opens the run report's HTML page in (headless) to check it renders.
# Installed with apt when running as root; otherwise the missing packages are named.
set -euo pipefail

needed=()
command -v odbcinst >/dev/null 2>&1 || needed+=(unixodbc)
[ -e /usr/include/sql.h ] || needed+=(unixodbc-dev)
if ! odbcinst -q -d 2>/dev/null | grep -qi 'postgresql unicode'; then
  needed+=(odbc-postgresql)
fi
command -v python3 >/dev/null 2>&1 || needed+=(python3)
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
# OpenSSH's sftp and scp: the yardstick of the SFTP and transfer benchmarks.
command -v sftp >/dev/null 2>&1 || needed+=(openssh-client)

if [ ${#needed[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: installing ${needed[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${needed[@]}" >/dev/null
  exit 0
fi
echo "setup-system: missing system packages: ${needed[*]}" >&2
echo "setup-system: install them (Debian/Ubuntu: sudo apt-get install ${needed[*]}) and re-run." >&2
exit 1
