#!/usr/bin/env bash
# Install Chromium from Debian's packages unless it is already there: the browser tests
# (tests/security/test_codec_server_browser.py) drive it with Playwright, which never downloads
# a browser of its own. Prints the path of the chromium binary on stdout.
set -euo pipefail

if found="$(command -v chromium)"; then
    echo "$found"
    exit 0
fi
if [[ "$(id -u)" != "0" ]]; then
    echo "install-chromium.sh: chromium is missing; install it with 'sudo apt-get install -y chromium'" >&2
    exit 1
fi
echo "install-chromium.sh: installing chromium from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium >&2
command -v chromium
