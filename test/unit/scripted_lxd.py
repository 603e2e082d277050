"""An LXD that answers every write with an operation, as canonical/lxd
lxd-6.8 and lxd-6.9 do (API extension ``storage_and_network_operations``:
lxd/storage_pools.go, lxd/networks.go; profile PUT from lxd-6.6,
lxd/profiles.go; project DELETE from lxd-6.7), for what cannot run here:
the snap and its store. It serves the REST API on a unix socket to the
formula's real pylxd client, and holds what it is sent. A test module of
its own: the other unit tests import it.

The answers, pinned from lxd-6.9:

- a write: 202 and ``{"type": "async", "status": "Operation created",
  "status_code": 100, "operation": "/1.0/operations/<id>", "metadata":
  <operation>}`` (lxd/operations/response.go operationResponse.Render);
- ``GET /1.0/operations/<id>/wait?timeout=N``: 200 at once, then the
  operation when it succeeded, or ``{"type": "error", "error": <its err>,
  "error_code": 400}`` when it failed or ``"context deadline exceeded"``
  (500) when N seconds passed first (lxd/operations.go operationWaitGet,
  the same from lxd-5.21.0, and in lxc/incus v6.0.4);
- ``OPERATION_BODY``: instead, the operation in its state at the end of
  the wait, Failure or Running included (lxd-5.0.2 lxd/operations.go, and
  lxc/incus v7.0.0 cmd/incusd/operations.go).
"""

import json
import socketserver
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path

ERROR_BODY = "lxd-6.9"
OPERATION_BODY = "lxd-5.0"
COLLECTIONS = ("storage-pools", "networks", "profiles", "projects", "certificates",
               "instances", "images")


def _sync(metadata):
    return {"type": "sync", "status": "Success", "status_code": 200, "operation": "",
            "error_code": 0, "error": "", "metadata": metadata}


def _error(message, code):
    return {"type": "error", "status": "", "status_code": 0, "operation": "",
            "error_code": code, "error": message, "metadata": None}


class ScriptedLXD:
    """The daemon: ``fail`` is the error the next operations end with (None:
    they succeed), ``running`` keeps them running, ``wait_shape`` is how
    their wait answers. ``objects`` holds what it was sent, by path;
    ``writes`` lists ``(method, path, query, body)``."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="lxd69-", dir="/tmp"))
        self.socket = str(self.dir / "unix.socket")
        self.fail = None
        self.running = False
        self.wait_shape = ERROR_BODY
        self.objects = {"": {"config": {}}}
        self.writes = []
        self.operations = {}
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def address_string(self):
                return "unix"

            def _answer(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                url = urllib.parse.urlsplit(self.path)
                path = url.path.removeprefix("/1.0").strip("/")
                query = dict(urllib.parse.parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                self._answer(*daemon.answer(self.command, path, query, body))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(self.socket, Handler)
        # stop() waits for the serving loop's next poll: keep it short, as a
        # test starts and stops one server
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # ---------------------------------------------------------------- answers

    def answer(self, method, path, query, body):
        if path.startswith("operations/"):
            return self._operation(path.split("/")[1], path.endswith("/wait"), query)
        if method == "GET":
            return self._read(path, query)
        self.writes.append((method, path, query, body))
        return 202, self._start(method, path, body)

    def _read(self, path, query):
        if path == "":
            return 200, _sync(dict(self.objects[""], **{
                "api_extensions": ["storage_and_network_operations", "projects",
                                   "clustering", "network"],
                "api_status": "stable", "api_version": "1.0", "auth": "trusted",
                "environment": {"server": "lxd", "server_version": "6.9",
                                "server_clustered": False, "server_name": "lxd69",
                                "storage_supported_drivers": [{"Name": "dir"}]}}))
        if path == "cluster":
            return 200, _sync({"server_name": "", "enabled": False, "member_config": []})
        if path in COLLECTIONS:
            return 200, _sync([held for where, held in sorted(self.objects.items())
                               if where.rpartition("/")[0] == path])
        if path in self.objects:
            return 200, _sync(self.objects[path])
        return 404, _error("Not Found", 404)

    def _start(self, method, path, body):
        operation = {"id": str(uuid.uuid4()), "class": "task",
                     "description": f"{method} /1.0/{path}",
                     "created_at": "2025-01-01T00:00:00Z",
                     "updated_at": "2025-01-01T00:00:00Z", "status": "Running",
                     "status_code": 103, "resources": {}, "metadata": {},
                     "may_cancel": False, "err": "", "location": "none"}
        if not self.running:
            if self.fail:
                operation.update(status="Failure", status_code=400, err=self.fail)
            else:
                operation.update(status="Success", status_code=200)
                self._hold(method, path, body)
        self.operations[operation["id"]] = operation
        return {"type": "async", "status": "Operation created", "status_code": 100,
                "operation": f"/1.0/operations/{operation['id']}", "metadata": operation}

    def _hold(self, method, path, body):
        if method == "DELETE":
            self.objects.pop(path, None)
        elif method == "POST" and path in COLLECTIONS and "name" in (body or {}):
            self.objects[f"{path}/{body['name']}"] = dict(body, used_by=[])
        elif method == "PATCH":
            held = self.objects.setdefault(path, {})
            for key, value in body.items():
                held[key] = dict(held.get(key) or {}, **value) if isinstance(
                    value, dict) else value
        elif method == "PUT":
            self.objects[path] = dict(self.objects.get(path, {}), **body)

    def _operation(self, identifier, wait, query):
        operation = self.operations.get(identifier)
        if operation is None:
            return 404, _error("Operation not found", 404)
        if not wait:
            return 200, _sync(operation)
        if operation["status"] == "Running" and self.wait_shape == ERROR_BODY:
            time.sleep(float(query.get("timeout", 0)))
            return 200, _error("context deadline exceeded", 500)
        if operation["status"] == "Failure" and self.wait_shape == ERROR_BODY:
            return 200, _error(operation["err"], 400)
        return 200, _sync(operation)
