#!/bin/sh
# Install the Debian packages forq needs, when missing.  As root it runs
# apt-get itself; otherwise it prints the exact line to run and fails.
set -u
need="build-essential pkg-config liblmdb-dev libcjson-dev libhwloc-dev libcmocka-dev mandoc procps jq libopenblas-dev liblapacke-dev libssl-dev zlib1g-dev"
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "forq: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null || {
		echo "forq: apt-get install failed:$missing" >&2; exit 1; }
else
	echo "forq: missing Debian packages; run:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
