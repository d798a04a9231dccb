#!/usr/bin/env bash
# Browser tests drive the system Chromium. When none is found and we are root on Debian/Ubuntu,
# install Debian's chromium; otherwise say how to enable the browser tests (they skip without it).
# The Chinese browser walk and screenshots also need a CJK font (Debian's fonts-noto-cjk): without
# one, Chromium draws Chinese as empty boxes.
set -u
have_cjk_font() { command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; }
can_apt() { [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; }  # root on Debian/Ubuntu
apt_install() {  # quiet, and never fatal
  can_apt || return 1
  echo "Installing Debian's $* ..."
  { [ -n "${APT_UPDATED:-}" ] || apt-get update -qq; } && APT_UPDATED=1 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! have_cjk_font; then
  apt_install fonts-noto-cjk ||
    echo "NOTE: no Chinese font (apt install fonts-noto-cjk): Chinese screenshots will show boxes."
fi
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
apt_install chromium && exit 0
can_apt && echo "Could not install chromium with apt-get." >&2
echo "NOTE: no Chromium found: browser tests will be skipped. Install chromium (apt install chromium," \
     "or set BULLSEYE_CHROMIUM=/path/to/chrome) to run them."
exit 0
