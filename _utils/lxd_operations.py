"""
How the formula reads LXD's answers to its requests: which path a request
goes to, what it sends, whether LXD answered with an operation, and what
an operation's final state means. Pure functions; ``lxd.request`` sends
and waits.
"""

# An operation's statuses while it goes on (lxd-6.9 shared/api/status_code.go)
UNFINISHED = ("Running", "Pending")


def path_parts(path):
    """The parts of ``/1.0/<path>`` below ``/1.0``, in order."""
    return list(filter(None, path.strip("/").split("/")))


def payload(body, upload=None):
    """A request's keyword arguments: ``body`` as JSON, or ``upload``
    (``(data, headers)``) for a body that is not JSON."""
    if upload is not None:
        return {"data": upload[0], "headers": upload[1]}
    return {"json": body}


def operation_id(answer):
    """The id of the operation an answer started; None when LXD answered
    at once (not ``async``)."""
    if answer.get("type") != "async":
        return None
    return answer["operation"].rsplit("/", 1)[-1]


def ended_wait(state, error):
    """What a wait that LXD ended with an error says of its operation: the
    operation as LXD holds it now (``state``), or, once LXD dropped it, a
    failure with the wait's ``error``."""
    return state or {"status": "Failure", "err": error}


def failure(done, waited, bound, target):
    """What to report for an operation in state ``done`` after ``waited``
    of at most ``bound`` seconds on the daemon at ``target``: None when it
    succeeded, LXD's error when it failed, the state it is in when it has
    not finished."""
    if done["status"] in UNFINISHED:
        within = (f"within {bound} s" if waited >= bound
                  else f"(LXD ended the wait after {waited:.0f} s of {bound} s)")
        return (
            f"LXD at {target} did not finish {done['description']!r} {within} "
            f"(lxd:timeouts:operation): it is {done['status']} and goes on in the "
            "background"
        )
    if done["status"] != "Success":
        return f"LXD refused the request: {done.get('err') or done['status']}"
    return None
