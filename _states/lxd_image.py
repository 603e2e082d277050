"""
LXD images by alias, for what Salt 3007's ``lxd_image`` state did (Salt
3008 removed it): imported from a tarball this minion can reach, or pulled
by the daemon from an image server.

.. code-block:: yaml

    busybox-image:
      lxd_image.present:
        - name: busybox
        - source: salt://images/busybox.tar.gz

    debian-image:
      lxd_image.present:
        - name: debian
        - source: {type: simplestreams, server: "https://images.example.net", name: debian/12}

``source`` is a path or ``salt://`` URL (a unified tarball; ``rootfs``
adds a split image's rootfs), or Salt 3007's mapping: ``type: file`` with
``filename`` (and ``saltenv``), ``type: simplestreams`` or ``lxd`` with
``server`` and ``name``. A tarball is compared by fingerprint: when it
changes, the alias moves to the new image. A pulled image is not pulled
again while the alias exists (``auto_update`` is LXD's own).
"""

from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_secrets
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_secrets

__virtualname__ = "lxd_image"


def __virtual__():
    if "lxd_images.images" not in __salt__:
        return (False, "the lxd_images execution module is not available (pylxd?)")
    return __virtualname__


def present(name, source, rootfs=None, public=False, saltenv="base"):
    """
    Ensure image alias ``name`` points at the image from ``source``.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if isinstance(source, dict):
        kind = source.get("type", "file")
        if kind in ("simplestreams", "lxd"):
            return _pulled(ret, name, source, kind, public)
        if kind != "file" or not source.get("filename"):
            ret["result"] = False
            ret["comment"] = (f"source: type {kind!r} is not taken (file, with filename; "
                              "simplestreams or lxd, with server and name)")
            return ret
        saltenv = source.get("saltenv", saltenv)
        source = source["filename"]
    try:
        wanted = __salt__["lxd_images.local_files"](source, rootfs, saltenv)["fingerprint"]
        current = __salt__["lxd_images.alias_target"](name)
        if current == wanted:
            ret["comment"] = f"Image {name} is {wanted[:12]}, from {source}."
            return ret
        ret["changes"] = {"image": {"old": current, "new": wanted}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Image {name} would be imported from {source}."
            return ret
        if wanted in __salt__["lxd_images.images"]():
            __salt__["lxd_images.point_alias"](name, wanted)
        else:
            __salt__["lxd_images.import_file"](source, name, rootfs, public, saltenv)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        ret["result"] = False
        ret["comment"] = f"Image {name} from {source} failed: {exc}"
        return ret
    ret["comment"] = f"Image {name} was imported from {source}."
    return ret


def _pulled(ret, name, source, kind, public):
    server = lxd_secrets.masked({"server": source.get("server", "")})["server"]
    try:
        current = __salt__["lxd_images.alias_target"](name)
        if current:
            ret["comment"] = f"Image {name} is {current[:12]}."
            return ret
        ret["changes"] = {"image": {"old": None, "new": f"{server} {source['name']}"}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Image {name} would be pulled from {server}."
            return ret
        __salt__["lxd_images.pull"](source["server"], source["name"], name,
                                    protocol=kind, public=public)
    except (CommandExecutionError, KeyError) as exc:
        ret["changes"] = {}
        ret["result"] = False
        ret["comment"] = f"Image {name} could not be pulled: {exc}"
        return ret
    ret["comment"] = f"Image {name} was pulled from {server}."
    return ret
