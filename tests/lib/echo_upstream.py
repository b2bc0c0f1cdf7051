# SPDX-License-Identifier: Apache-2.0
# The protected application of the gateway tests: answers every GET with a JSON object of the
# X-Posture-* request headers it received (names in lower case). usage: echo_upstream.py PORT
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()
                           if k.lower().startswith("x-posture-")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
