#!/usr/bin/env bash
# Installs what TestSimpleSAMLphpInterop (handlers/interop_simplesamlphp_test.go)
# needs: Debian's simplesamlphp package and the PHP CLI (served with `php -S`), plus
# the PHP extensions SimpleSAMLphp uses (dom/xml, mbstring). Does nothing when they
# are installed already.
set -euo pipefail

pkgs=(simplesamlphp php-cli php-xml php-mbstring)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "--- installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# simplesamlphp depends on "apache2 | httpd": apache2 gets installed, but nothing
# here needs it running. Keep services from starting while installing.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
