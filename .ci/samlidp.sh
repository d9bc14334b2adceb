#!/usr/bin/env bash
# Installs what TestSAMLIdPInterop (handlers/interop_samlidp_test.go) needs: the npm
# package saml-idp, pinned, into a cache directory outside the repository (printed on
# stdout; the test reads it from GATEHOUSE_SAMLIDP_DIR, default below). saml-idp 1.2.1
# depends on "samlp" from GitHub (github:mcguinness/node-samlp), which npm cannot fetch
# without GitHub access: an npm override pins the registry's samlp 7.1.1 instead
# (the same library, published by Auth0). Needs node and npm.
set -euo pipefail
version=1.2.1
dir="${GATEHOUSE_SAMLIDP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/saml-idp-$version}"
if [ -f "$dir/node_modules/saml-idp/bin/run.js" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/saml-idp/package.json"; then
  echo "$dir"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is missing (Debian: apt-get install npm)" >&2; exit 1; }
mkdir -p "$dir"
cat >"$dir/package.json" <<JSON
{"name": "gatehouse-ci-saml-idp", "private": true,
 "dependencies": {"saml-idp": "$version"},
 "overrides": {"samlp": "7.1.1"}}
JSON
echo "--- installing saml-idp $version into $dir" >&2
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
echo "$dir"
