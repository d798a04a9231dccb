#!/usr/bin/env bash
# Browser tests drive the system Chromium. When none is found and we are root on Debian/Ubuntu,
# install Debian's chromium; otherwise say how to enable the browser tests (they skip without it).
set -u
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && exit 0
  echo "Could not install chromium with apt-get." >&2
fi
echo "NOTE: no Chromium found: browser tests will be skipped. Install chromium (apt install chromium," \
     "or set BULLSEYE_CHROMIUM=/path/to/chrome) to run them."
exit 0
