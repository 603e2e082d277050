"""
Requests to the master about the mine, over the request channel, as
``mine.get`` sends them: what ``lxd_mine`` stores and deletes, and waiting
for another minion's entry (a join offer, a join report). Given the
calling module's ``__opts__`` and ``__context__``, which every module of a
loader shares, so that a session opened by one module carries the requests
of another.
"""

import contextlib
import threading
import time

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_salt_compat
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_salt_compat

# How often wait_for asks the master (one request of a few milliseconds):
# the mine has no way to be waited on.
POLL_SECONDS = 0.05


def request(opts, context, load):
    """The master's answer to ``load``, over the session's channel when one
    is open, else over a channel of its own."""
    load = dict(load, id=opts["id"])
    if _channel_key() in context:
        return context[_channel_key()].send(load)
    with lxd_salt_compat.request_channel(opts) as channel:
        return channel.send(load)


@contextlib.contextmanager
def session(opts, context):
    """A context in which every request to the master shares one channel
    (opening one takes tens of milliseconds); nested sessions share the
    outer one."""
    if _channel_key() in context:
        yield
        return
    with lxd_salt_compat.request_channel(opts) as channel:
        context[_channel_key()] = channel
        try:
            yield
        finally:
            context.pop(_channel_key(), None)


def wait_for(opts, context, holder, name, accept, timeout):
    """Wait until minion ``holder``'s mine entry ``name``, as this minion may
    read it, satisfies ``accept`` (given the value), for at most ``timeout``
    seconds. Returns the value, or None when the time is up."""
    load = lxd_salt_compat.mine_get_load(holder, name)
    deadline = time.monotonic() + timeout
    with session(opts, context):
        while True:
            value = (request(opts, context, load) or {}).get(holder)
            if value is not None and accept(value):
                return value
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)


def _channel_key():
    # a minion run with multiprocessing: False runs its jobs in threads
    # that share __context__
    return f"lxd_mine.channel.{threading.get_ident()}"
