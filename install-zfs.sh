#!/bin/sh
# Installs the OpenZFS RPMs of this kmods image into the image being built (bootc: dnf, else
# rpm-ostree), after checking that the image has exactly the kernel the modules were built for.
#   RUN --mount=type=bind,from=<kmods image>,target=/tmp/zfs sh /tmp/zfs/install-zfs.sh
# The Containerfile's verify stage bakes the kernel version and ZFS release in; this file sits at
# the image root beside the main RPMs, so the README's `*.rpm` globs never match it.
set -eu

kernel_version='@KERNEL_VERSION@'
zfs_tag='@ZFS_TAG@'

me="install-zfs.sh"
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
cert_dir=/usr/share/zfs-kmods
modules_load=/etc/modules-load.d/zfs.conf

say() { printf '%s: %s\n' "$me" "$*"; }
fail() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 1; }
usage_error() { printf '%s: error: %s\n' "$me" "$*" >&2; printf 'Try: sh %s --help\n' "$0" >&2; exit 2; }

usage() {
  cat <<EOF
Usage: sh $0 [--with-dracut] [--with-devel] [--with-pyzfs]

Installs the ZFS ${zfs_tag#zfs-} RPMs for kernel $kernel_version from this folder: the main RPMs
(zfs, its libraries, kmod-zfs), with dnf if the image has it, else rpm-ostree; then
runs depmod -a $kernel_version
and writes $modules_load so zfs loads at boot. A signed image's certificate
is copied to $cert_dir/signing-cert.der, for mokutil --import on the host.

Options:
  --with-dracut  also install other/zfs-dracut-*.rpm and rebuild the initramfs of
                 $kernel_version with dracut, so ZFS is in it
  --with-devel   also install the devel/ RPMs (headers, kmod-zfs-devel)
  --with-pyzfs   also install other/python3-pyzfs-*.rpm (pulls in python3)
  -h, --help     show this help

Exit codes: 0 installed, 1 failed (e.g. the image has another kernel), 2 bad option.
EOF
}

with_dracut=no
with_devel=no
with_pyzfs=no
for option in "$@"; do
  case "$option" in
    --with-dracut) with_dracut=yes ;;
    --with-devel) with_devel=yes ;;
    --with-pyzfs) with_pyzfs=yes ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $option" ;;
  esac
done

case "$kernel_version$zfs_tag" in
  *@*) fail "this copy of install-zfs.sh has no kernel version baked in: use the one at the root of a kmods image" ;;
esac

# The kernel of the image being built: the modules load only into exactly this kernel.
command -v rpm >/dev/null 2>&1 || fail "rpm is not installed: this installer is for Fedora images"
installed=$(rpm -q kernel --qf '%{VERSION}-%{RELEASE}.%{ARCH}\n') \
  || fail "rpm -q kernel found no kernel in this image"
match=no
for kernel in $installed; do
  if [ "$kernel" = "$kernel_version" ]; then match=yes; fi
done
if [ "$match" = no ]; then
  hint=""
  for kernel in $installed; do
    hint="${hint:+$hint or }zfs-${zfs_tag#zfs-}_kernel-$kernel"
  done
  fail "these RPMs are for kernel $kernel_version, this image has $(echo "$installed" | tr '\n' ' ' | sed 's/ $//'): use the kmods image tag $hint"
fi

# What to install: the main folder, plus the optional RPMs asked for.
set --
for rpm in "$here"/*.rpm; do
  if [ -f "$rpm" ]; then set -- "$@" "$rpm"; fi
done
[ $# -gt 0 ] || fail "no RPMs next to $0 in $here"
if [ "$with_dracut" = yes ]; then
  count=$#
  for rpm in "$here"/other/zfs-dracut-*.rpm; do
    if [ -f "$rpm" ]; then set -- "$@" "$rpm"; fi
  done
  [ $# -gt "$count" ] || fail "--with-dracut: no other/zfs-dracut-*.rpm in $here"
fi
if [ "$with_pyzfs" = yes ]; then
  count=$#
  for rpm in "$here"/other/python3-pyzfs-*.rpm; do
    if [ -f "$rpm" ]; then set -- "$@" "$rpm"; fi
  done
  [ $# -gt "$count" ] || fail "--with-pyzfs: no other/python3-pyzfs-*.rpm in $here"
fi
if [ "$with_devel" = yes ]; then
  count=$#
  for rpm in "$here"/devel/*.rpm; do
    if [ -f "$rpm" ]; then set -- "$@" "$rpm"; fi
  done
  [ $# -gt "$count" ] || fail "--with-devel: no devel/*.rpm in $here"
fi

# dnf is in every FCOS >= 41 and is what a bootc Containerfile uses; rpm-ostree otherwise.
if command -v dnf >/dev/null 2>&1; then
  tool=dnf
  dnf install -y "$@"
elif command -v rpm-ostree >/dev/null 2>&1; then
  tool="rpm-ostree"
  rpm-ostree install "$@"
else
  fail "neither dnf nor rpm-ostree is installed in this image"
fi
say "installed $# RPMs with $tool:"
for rpm in "$@"; do
  printf '  %s\n' "${rpm##*/}"
done

command -v depmod >/dev/null 2>&1 || fail "depmod is not installed (package kmod)"
depmod -a "$kernel_version"
say "ran depmod -a $kernel_version"

# The zfs RPM owns /usr/lib/modules-load.d/zfs.conf: a file of our own in /etc leaves it as
# shipped (rpm -V zfs stays clean).
mkdir -p "${modules_load%/*}"
echo zfs >"$modules_load"
say "wrote $modules_load: the zfs module loads at boot"

if [ "$with_dracut" = yes ]; then
  # The image ships a prebuilt initramfs: installing zfs-dracut alone does not change it.
  initramfs="/usr/lib/modules/$kernel_version/initramfs.img"
  command -v dracut >/dev/null 2>&1 ||
    fail "--with-dracut: dracut is not installed, so the initramfs cannot be rebuilt with ZFS in it"
  dracut --no-hostonly --kver "$kernel_version" --reproducible --add ostree -f "$initramfs"
  say "rebuilt $initramfs with dracut: ZFS is in the initramfs"
fi

if [ -f "$here/signing-cert.der" ]; then
  mkdir -p "$cert_dir"
  cp "$here/signing-cert.der" "$cert_dir/signing-cert.der"
  say "the modules are signed: on a host with Secure Boot, enrol the certificate once (then reboot and confirm it in the MOK manager):"
  printf '  mokutil --import %s/signing-cert.der\n' "$cert_dir"
else
  say "the modules are unsigned: a host with Secure Boot refuses to load them (Key was rejected by service)"
fi
