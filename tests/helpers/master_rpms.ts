// The RPM files a build of OpenZFS master (tests/fixtures/specs/zfs-master.spec: libuutil3's
// packaging removed) leaves in /out for one kernel: the userland set, then the kmod ones.
export function masterRpms(kernel: string): string[] {
  return [
    "zfs-2.4.99-1.fc43.x86_64.rpm",
    "libnvpair3-2.4.99-1.fc43.x86_64.rpm",
    "libzfs7-2.4.99-1.fc43.x86_64.rpm",
    "libzfs7-devel-2.4.99-1.fc43.x86_64.rpm",
    "libzpool7-2.4.99-1.fc43.x86_64.rpm",
    "zfs-dracut-2.4.99-1.fc43.noarch.rpm",
    "zfs-test-2.4.99-1.fc43.x86_64.rpm",
    "python3-pyzfs-2.4.99-1.fc43.noarch.rpm",
    "zfs-debuginfo-2.4.99-1.fc43.x86_64.rpm",
    "zfs-2.4.99-1.fc43.src.rpm",
    `kmod-zfs-${kernel}-2.4.99-1.fc43.x86_64.rpm`,
    "kmod-zfs-devel-2.4.99-1.fc43.x86_64.rpm",
  ];
}
