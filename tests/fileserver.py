"""A real HTTP server on 127.0.0.1 (stdlib http.server in a thread) standing in for the
places models and test material are published.

It serves the files of one folder. ``/cut/NAME`` announces NAME's full length but sends half
and hangs up, as a dropped connection does; ``/stall/NAME`` sends half and then goes quiet
until the server closes. ``/OWNER/REPO/resolve/REVISION/NAME`` answers as the Hugging Face
Hub does for a file (HEAD with ``X-Repo-Commit`` and an ``ETag`` of its sha256, then GET),
so ``huggingface_hub`` can download from it with ``endpoint=`` this server.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FileServer:
    def __init__(self, root: Path):
        self.root, self.requests = root, []
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def _handler(self):
        server, root = self, self.root

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                server.requests.append(f"HEAD {self.path}")
                if "/resolve/" in self.path:
                    return self._hub(body=False)
                return super().do_HEAD()

            def do_GET(self):
                server.requests.append(self.path)
                if "/resolve/" in self.path:
                    return self._hub(body=True)
                mode, _, name = self.path.lstrip("/").partition("/")
                if mode not in ("cut", "stall"):
                    return super().do_GET()
                data = (root / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                if mode == "stall":
                    server.release.wait(timeout=30)
                self.close_connection = True

            def _hub(self, *, body: bool):
                path = root / self.path.split("?")[0].rpartition("/")[2]
                if not path.is_file():
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("X-Repo-Commit", HUB_COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        return Handler
