"""
Execution module: the daemon's images, imported from a tarball this minion
can reach (a local path or ``salt://``: a unified tarball, or the
metadata and rootfs of a split image) or pulled by the daemon from an image
server (simplestreams or another LXD), each known by an alias. The
``lxd_image`` states keep them.
"""

import hashlib

from salt.exceptions import CommandExecutionError

try:  # a dependency of pylxd, which the lxd module needs anyway
    from requests_toolbelt.multipart.encoder import MultipartEncoder
except ImportError:
    MultipartEncoder = None

__virtualname__ = "lxd_images"
# The header that makes an uploaded image public, per backend.
PUBLIC_HEADER = {"lxd": "X-LXD-Public", "incus": "X-Incus-Public"}


def __virtual__():
    if "lxd.request" not in __salt__ or MultipartEncoder is None:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def images():
    """
    Return the images, by fingerprint: their aliases, properties, whether
    public, and size.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_images.images
    """
    found = __salt__["lxd.query"]("images", recursion=1) or []
    return {
        image["fingerprint"]: {
            "aliases": sorted(alias["name"] for alias in image.get("aliases") or []),
            "properties": image.get("properties") or {},
            "public": image.get("public", False),
            "size": image.get("size"),
        }
        for image in found
    }


def alias_target(alias):
    """
    Return the fingerprint image alias ``alias`` points at, or None.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_images.alias_target busybox
    """
    for fingerprint, image in images().items():
        if alias in image["aliases"]:
            return fingerprint
    return None


def local_files(source, rootfs=None, saltenv="base"):
    """
    Return the local paths of an image's tarball ``source`` and, for a
    split image, its ``rootfs`` (each a path or a ``salt://`` URL, fetched
    into the minion's cache), and the fingerprint LXD will give it (the
    SHA-256 of the tarball, or of the metadata and rootfs together).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_images.local_files salt://images/busybox.tar.gz
    """
    paths = [_local(source, saltenv)]
    if rootfs:
        paths.append(_local(rootfs, saltenv))
    digest = hashlib.sha256()
    try:
        for path in paths:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    except OSError as exc:
        raise CommandExecutionError(f"the image cannot be read: {exc}") from exc
    return {"paths": paths, "fingerprint": digest.hexdigest()}


def _local(location, saltenv):
    if not location.startswith("salt://"):
        return location
    cached = __salt__["cp.cache_file"](location, saltenv=saltenv)
    if not cached:
        raise CommandExecutionError(f"{location} is not on the master (saltenv {saltenv})")
    return cached


def import_file(source, alias, rootfs=None, public=False, saltenv="base"):
    """
    Import the image in tarball ``source`` (with ``rootfs`` for a split
    image; paths or ``salt://`` URLs) and point ``alias`` at it. Returns the
    image's fingerprint.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_images.import_file salt://images/busybox.tar.gz busybox
    """
    files = local_files(source, rootfs, saltenv)
    headers = {PUBLIC_HEADER[__salt__["lxd.server_kind"]()]: "1"} if public else {}
    with open(files["paths"][0], "rb") as first:
        if rootfs:
            with open(files["paths"][1], "rb") as second:
                data = MultipartEncoder({
                    "metadata": ("metadata", first, "application/octet-stream"),
                    "rootfs": ("rootfs", second, "application/octet-stream"),
                })
                headers["Content-Type"] = data.content_type
                done = __salt__["lxd.request"]("POST", "images", upload=(data, headers))
        else:
            done = __salt__["lxd.request"]("POST", "images", upload=(first, headers))
    fingerprint = done["metadata"]["fingerprint"]
    point_alias(alias, fingerprint)
    return fingerprint


def pull(server, remote_alias, alias, protocol="simplestreams", public=False):
    """
    Have the daemon pull image ``remote_alias`` from image ``server``
    (``protocol`` ``simplestreams`` or ``lxd``) and point ``alias`` at it.
    Returns the image's fingerprint.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_images.pull https://images.example.net debian/12 debian
    """
    done = __salt__["lxd.request"]("POST", "images", {
        "public": public,
        "source": {"type": "image", "mode": "pull", "server": server,
                   "protocol": protocol, "alias": remote_alias},
    })
    fingerprint = done["metadata"]["fingerprint"]
    point_alias(alias, fingerprint)
    return fingerprint


def point_alias(alias, fingerprint):
    """
    Point image alias ``alias`` at image ``fingerprint`` (creating the
    alias, or moving it).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_images.point_alias busybox 2e9be19a...
    """
    current = alias_target(alias)
    if current == fingerprint:
        return False
    if current is None:
        __salt__["lxd.request"]("POST", "images/aliases",
                                {"name": alias, "target": fingerprint, "description": ""})
    else:
        __salt__["lxd.request"]("PUT", f"images/aliases/{alias}",
                                {"target": fingerprint, "description": ""})
    return True


def delete(fingerprint):
    """
    Delete image ``fingerprint`` (its aliases go with it).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_images.delete 2e9be19a...
    """
    __salt__["lxd.request"]("DELETE", f"images/{fingerprint}")
    return True
