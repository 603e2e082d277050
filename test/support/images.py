"""Tiny LXD images built from this machine's busybox-static, for the
sandbox's demo container and the tests' nested containers."""

import json
import os
import shutil
import subprocess
import tarfile
import time

# What busybox's udhcpc runs with a lease (it configures nothing itself).
DHCP_SCRIPT = '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface"\nexit 0\n'


def busybox_image(directory):
    """A unified image tarball in ``directory`` (built once): busybox-static
    as every command, init included, and /bin/dhcp-lease for ``udhcpc -s``."""
    image = directory / "busybox.tar.gz"
    if image.exists():
        return image
    rootfs = directory / "busybox" / "rootfs"
    for sub in ("bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "root"):
        (rootfs / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(shutil.which("busybox"), rootfs / "bin" / "busybox")
    applets = subprocess.run([str(rootfs / "bin" / "busybox"), "--list"], check=True,
                             capture_output=True, text=True).stdout.split()
    for applet in applets:
        if not (rootfs / "bin" / applet).exists():
            (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "sbin" / "init").symlink_to("../bin/init")
    script = rootfs / "bin" / "dhcp-lease"
    script.write_text(DHCP_SCRIPT)
    script.chmod(0o755)
    metadata = directory / "busybox" / "metadata.yaml"
    metadata.write_text(json.dumps({
        "architecture": os.uname().machine,
        "creation_date": int(time.time()),
        "properties": {"description": "busybox-static", "os": "busybox"},
    }))
    with tarfile.open(image, "w:gz") as tar:
        tar.add(metadata, "metadata.yaml")
        tar.add(rootfs, "rootfs")
    return image
