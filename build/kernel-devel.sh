#!/bin/sh
# Installs kernel-devel of exactly one kernel into the Containerfile's kmod stage, from where
# Fedora CoreOS itself gets its kernels, in this order (the first that has it wins):
#   1. the enabled Fedora repositories;
#   2. updates-testing (a kernel still in testing);
#   3. fedora-coreos-pool (build/fedora-coreos-pool.repo, limited to kernel-devel*; FCOS
#      fast-tracks kernels there before Bodhi); dnf checks the signatures in 1-3;
#   4. Koji's copy signed with the Fedora key of this release, installed only after
#      `rpmkeys --checksig` verifies it (Koji's unsigned build output is never used).
# Usage: sh kernel-devel.sh <kernel version> <fedora version>
# Exit codes: 0 installed, 1 not found anywhere or not verified, 2 bad arguments.
set -eu

fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
[ $# -eq 2 ] || { printf 'usage: sh kernel-devel.sh <kernel version> <fedora version>\n' >&2; exit 2; }
kernel=$1
fedora=$2

# The kernel's parts end up in a URL: each is checked against a strict pattern first.
arch=${kernel##*.}
nvr=${kernel%.*}
version=${nvr%%-*}
release=${nvr#*-}
case "$version" in "" | *[!0-9.]*) fail "kernel version part '$version' of $kernel is not N.N.N" ;; esac
case "$release" in "" | *[!0-9A-Za-z_.]*) fail "kernel release part '$release' of $kernel is malformed" ;; esac
case "$arch" in x86_64 | aarch64 | ppc64le | s390x) ;; *) fail "kernel arch part '$arch' of $kernel is unknown" ;; esac
case "$fedora" in "" | *[!0-9]*) fail "Fedora version '$fedora' is not a number" ;; esac

package="kernel-devel-$kernel"

# Whether dnf finds the package with these repository options (a repository that cannot be
# read counts as not having it: the next place is asked).
found_with() {
  [ -n "$(dnf repoquery --quiet "$@" "$package" 2>/dev/null)" ]
}

install_from() {
  where=$1
  shift
  printf '%s: from %s\n' "$package" "$where"
  dnf install -y --setopt=keepcache=1 --setopt=install_weak_deps=False "$@" kernel-rpm-macros
  exit 0
}

if found_with; then install_from "the enabled Fedora repositories" "$package"; fi
if found_with --repo=updates-testing; then
  install_from updates-testing --enablerepo=updates-testing "$package"
fi
if found_with --repo=fedora-coreos-pool; then
  install_from coreos-pool --enablerepo=fedora-coreos-pool "$package"
fi

# 4. Koji. Its signed copies live under data/signed/<key id>/, the key id being the last 8 hex
# of the key's fingerprint: `rpmkeys --list` (rpm >= 4.20, every keystore) names it, older rpm
# only the gpg-pubkey pseudo-package.
key="/etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-$fedora-primary"
rpmkeys --import "$key" || fail "cannot import the Fedora $fedora key $key"
key_id_of() {
  awk -v uid="<fedora-$fedora-primary@" \
    'index(tolower($0), uid) { id = tolower(substr($1, length($1) - 7)) } END { print id }'
}
is_key_id() {
  case "$1" in [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) return 0 ;; esac
  return 1
}
keyid=$(rpmkeys --list 2>/dev/null | key_id_of) || keyid=""
if is_key_id "$keyid"; then
  key_source="rpmkeys --list"
else
  keyid=$(rpm -q gpg-pubkey --qf '%{VERSION} %{SUMMARY}\n' 2>/dev/null | key_id_of) || keyid=""
  key_source="rpm -q gpg-pubkey"
  is_key_id "$keyid" || fail "no key id for $key among the imported keys (got '$keyid')"
fi

url="https://kojipkgs.fedoraproject.org/packages/kernel/$version/$release/data/signed/$keyid/$arch/$package.rpm"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rpm_file="$tmp/$package.rpm"
printf '%s is in no repository: downloading the copy signed with key %s (%s) from Koji, %s\n' \
  "$package" "$keyid" "$key_source" "$url"
curl --fail --location --silent --show-error --retry 3 --output "$rpm_file" "$url" ||
  fail "$package is nowhere Fedora CoreOS gets kernels: not in the enabled Fedora repositories, not in updates-testing, not in coreos-pool, and Koji has no copy signed with the Fedora $fedora key $keyid (not signed yet, or pruned): $url"
rpmkeys --checksig --define '_pkgverify_level signature' "$rpm_file" ||
  fail "the signature of $url does not verify against the Fedora $fedora key"
printf '%s: from Koji, signature verified against the Fedora %s key %s\n' "$package" "$fedora" "$keyid"
dnf install -y --setopt=keepcache=1 --setopt=install_weak_deps=False "$rpm_file" kernel-rpm-macros
