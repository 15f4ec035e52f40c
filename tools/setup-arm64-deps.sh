#!/usr/bin/env bash
# What `npm run test:arm64` needs on a Debian x86-64 machine: the aarch64 cross toolchain (it builds the
# addon and brings the aarch64 libc and libstdc++ that QEMU_LD_PREFIX points at) and qemu-user-static,
# then the kernel's binfmt_misc entry for aarch64 ELF files, so an arm64 node can start arm64 children
# the way it starts any program. Without binfmt_misc the test run drives qemu-aarch64-static itself.
set -euo pipefail

packages=(qemu-user-static g++-aarch64-linux-gnu binfmt-support)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

binfmt=/proc/sys/fs/binfmt_misc
conf=/usr/lib/binfmt.d/qemu-aarch64.conf
if [ ! -e "$binfmt/register" ]; then
  # A container or a fresh VM may not have it mounted; mounting needs root and may be refused.
  mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
fi
if [ -e "$binfmt/qemu-aarch64" ]; then
  echo 1 >"$binfmt/qemu-aarch64" 2>/dev/null || true
  echo "binfmt_misc: qemu-aarch64 $(head -n1 "$binfmt/qemu-aarch64")"
elif [ -w "$binfmt/register" ] && [ -r "$conf" ]; then
  # binfmt-support registers on install only when binfmt_misc was mounted then; register the entry
  # Debian ships (flag F: the interpreter is opened now, so it also works inside chroots).
  if cat "$conf" >"$binfmt/register" 2>/dev/null; then
    echo "binfmt_misc: registered qemu-aarch64 from $conf"
  else
    echo "binfmt_misc: registering $conf was refused; the arm64 run will start qemu-aarch64-static itself"
  fi
else
  echo "binfmt_misc: not available here; the arm64 run will start qemu-aarch64-static itself"
fi
