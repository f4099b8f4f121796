#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A stand-in for the Kubernetes API server (none exists on a test machine): serves recorded
objects as a real one returns them, for GET only.

  kube-api.py DIR PORTFILE [--tls CERT KEY]

  DIR/pods/NS/NAME.json        GET /api/v1/namespaces/NS/pods/NAME
  DIR/namespaces/NS.json       GET /api/v1/namespaces/NS
  every DIR/pods/*/*.json      GET /api/v1/pods?fieldSelector=spec.nodeName=NODE (a PodList)
  DIR/pods/NS/NAME.behave      one of: "500" (HTTP 500), "garbage" (200, not JSON),
                               "huge" (200, a 6 MiB object), "slow N" (answers after N s),
                               "hang" (never answers)
  DIR/token                    when present: "Authorization: Bearer <its content>" is
                               required (401 otherwise); read again for every request
  DIR/requests.log             one line per request: METHOD PATH STATUS

Anything else is a 404 with a Status object. Binds 127.0.0.1 on a free port and writes the
port to PORTFILE once listening. Stops on SIGTERM.
"""
import http.server
import json
import os
import socketserver
import ssl
import sys
import time
import urllib.parse

ROOT = sys.argv[1]


def status(code, reason, message):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": message, "reason": reason,
                       "code": code}).encode()


def pod_list(query):
    """GET /api/v1/pods[?fieldSelector=spec.nodeName=NODE]: a PodList of every recorded pod."""
    node = None
    for kv in urllib.parse.parse_qs(query).get("fieldSelector", []):
        if kv.startswith("spec.nodeName="):
            node = kv.split("=", 1)[1]
    items = []
    base = os.path.join(ROOT, "pods")
    for ns in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        for f in sorted(os.listdir(os.path.join(base, ns))):
            if not f.endswith(".json"):
                continue
            try:
                pod = json.load(open(os.path.join(base, ns, f)))
            except ValueError:
                continue
            if node is None or pod.get("spec", {}).get("nodeName") == node:
                items.append(pod)
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
            "items": items}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(os.path.join(ROOT, "requests.log"), "a") as f:
            f.write("GET %s %d\n" % (self.path, code))

    def do_GET(self):
        tok_file = os.path.join(ROOT, "token")
        if os.path.exists(tok_file):
            want = "Bearer " + open(tok_file).read().strip()
            if self.headers.get("Authorization") != want:
                return self.send(401, status(401, "Unauthorized", "Unauthorized"))
        parts = self.path.split("?")[0].strip("/").split("/")
        query = self.path.split("?")[1] if "?" in self.path else ""
        if parts == ["api", "v1", "pods"]:
            return self.send(200, json.dumps(pod_list(query)).encode())
        if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods":
            base = os.path.join(ROOT, "pods", parts[3], parts[5])
            kind = 'pods "%s" not found' % parts[5]
        elif len(parts) == 4 and parts[:3] == ["api", "v1", "namespaces"]:
            base = os.path.join(ROOT, "namespaces", parts[3])
            kind = 'namespaces "%s" not found' % parts[3]
        else:
            return self.send(404, status(404, "NotFound", "the server could not find the "
                                         "requested resource"))
        if os.path.exists(base + ".behave"):
            b = open(base + ".behave").read().split()
            if b[0] == "500":
                return self.send(500, status(500, "InternalError", "etcdserver: request timed out"))
            if b[0] == "garbage":
                return self.send(200, b'{"kind": "Pod", "metadata": {"name": ')
            if b[0] == "huge":
                pad = "x" * (6 << 20)
                return self.send(200, json.dumps({"kind": "Pod", "metadata": {
                    "annotations": {"pad": pad}}, "spec": {}}).encode())
            if b[0] == "slow":
                time.sleep(float(b[1]))
            if b[0] == "hang":
                time.sleep(3600)
        if not os.path.exists(base + ".json"):
            return self.send(404, status(404, "NotFound", kind))
        self.send(200, open(base + ".json", "rb").read())


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Handler)
if len(sys.argv) > 3 and sys.argv[3] == "--tls":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
