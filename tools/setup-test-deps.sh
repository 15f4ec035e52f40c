#!/bin/sh
# Installs the Debian packages the build and the tests use, when any is missing (README's test line and .ci/run
# both run this, so CI proves the README). Runs apt-get as root directly, else through sudo when there is one.
#   python3 make g++                 build the addon (node-gyp)
#   u-boot-tools libubootenv-tool    U-Boot's own env tools, for the compatibility tests
#   util-linux mount                 losetup and mount, for the block-device tests
#   socat                            linked pty pairs (serial links)
#   openssl                          test certificates
#   systemd procps                   systemd-analyze verify/security of the unit (verify wants procps's /bin/kill)
#   chromium                         the status page in a headless browser
set -eu

PACKAGES="python3 make g++ u-boot-tools libubootenv-tool util-linux mount socat openssl systemd procps chromium"

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-test-deps: no dpkg-query/apt-get here (not Debian?); install these packages by hand: $PACKAGES" >&2
  exit 1
fi

missing=""
for p in $PACKAGES; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    *" installed") ;;
    *) missing="$missing $p" ;;
  esac
done
if [ -z "$missing" ]; then
  echo "setup-test-deps: every package is installed ($PACKAGES)" >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "setup-test-deps: missing packages:$missing; installing them needs root, and there is no sudo here: run this script as root (or install them by hand)" >&2
  exit 1
fi

echo "setup-test-deps: installing$missing" >&2
# shellcheck disable=SC2086 # word splitting of the package list is intended
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
