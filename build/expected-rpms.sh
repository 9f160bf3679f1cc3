#!/bin/sh
# Checks that a build produced every RPM it should, for the Containerfile's verify stage. The
# userland RPMs to expect come from the spec the build used (`rpmspec -q --builtrpms` with the
# options `make rpm-utils` passed to rpmbuild), so a series that adds or drops a package (2.5
# drops libuutil3) needs no edit here. Whatever the spec says, a kmods image must have: zfs, its
# libraries (libnvpairN, libzfsN, libzpoolN), zfs-dracut, kmod-zfs-<kernel> and kmod-zfs-devel.
# Usage: sh expected-rpms.sh <rpm folder> <kernel version> <zfs.spec> [<rpmbuild options file>]
# Exit codes: 0 all there, 1 an RPM is missing or the spec lacks a package every image needs,
# 2 bad arguments.
set -eu

fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  printf 'usage: sh expected-rpms.sh <rpm folder> <kernel version> <zfs.spec> [<options file>]\n' >&2
  exit 2
fi
folder=$1
kernel=$2
spec=$3
options_file=${4:-}
[ -d "$folder" ] || fail "no RPM folder $folder"
[ -f "$spec" ] || fail "no spec $spec"

# The options file holds what make expanded, e.g. `--define "_dracutdir /usr/lib/dracut" --with
# pyzfs`: split like the shell make ran rpmbuild with, refusing anything but words and quotes.
set --
if [ -n "$options_file" ]; then
  options=$(cat "$options_file")
  case "$options" in
    *[\`\$\;\&\|\<\>\(\)\\]*) fail "rpmbuild options in $options_file hold shell syntax: $options" ;;
  esac
  eval "set -- $options"
fi
names=$(rpmspec -q --builtrpms --qf '%{NAME}\n' "$@" "$spec") ||
  fail "rpmspec cannot read $spec"

# The packages every kmods image has, whatever the series: the spec must still name them.
for wanted in zfs zfs-dracut 'libnvpair[0-9]*' 'libzfs[0-9]*' 'libzpool[0-9]*'; do
  named=""
  for name in $names; do
    # shellcheck disable=SC2254 # $wanted is a pattern on purpose
    case "$name" in *-devel | *-debuginfo | *-debugsource) ;; $wanted) named=$name ;; esac
  done
  [ -n "$named" ] || fail "$spec names no $wanted package: the build changed, update build/expected-rpms.sh"
done

# An RPM of this name in the folder: <name>-<version>-<release>.<arch>.rpm, never the .src.rpm.
has_rpm() {
  for rpm in "$folder/$1"-[0-9]*.rpm; do
    case "$rpm" in *.src.rpm) ;; *) if [ -f "$rpm" ]; then return 0; fi ;; esac
  done
  return 1
}

missing=""
expected=""
for name in $names "kmod-zfs-$kernel" kmod-zfs-devel; do
  case "$name" in *-debuginfo | *-debugsource) continue ;; esac
  expected="${expected:+$expected }$name"
  has_rpm "$name" || missing="${missing:+$missing }$name"
done
[ -z "$missing" ] || fail "expected RPMs were not built: $missing (in $folder: $(cd "$folder" && echo *.rpm))"
printf 'all expected RPMs were built (from %s and the kmod build): %s\n' "${spec##*/}" "$expected"
