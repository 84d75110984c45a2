#!/usr/bin/env bash
# Makes sure Debian's `chromium` is there for tests/websocket_browser.rs: installs it with apt-get
# when missing and possible; otherwise says so, and the browser test skips with a message.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "tests/browser: installing chromium for the browser test"
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/tmp/ensure-chromium.log 2>&1; then
    exit 0
  fi
  echo "tests/browser: apt-get install chromium failed (see /tmp/ensure-chromium.log); the browser test will skip"
  exit 0
fi
echo "tests/browser: chromium is missing and cannot be installed here (not root or no apt-get); the browser test will skip"
exit 0
