"""A small HuggingFace Hub on 127.0.0.1 for the real `huggingface_hub` client (version 2.x), in a thread.

It speaks the subset of the Hub protocol that `HfRemote` drives, as the client source expects it
(`huggingface_hub/hf_api.py`, `_commit_api.py`, `file_download.py`, `utils/_http.py`):

- `POST /api/repos/create` (JSON name/organization/type/visibility) → `{"url"}`; 409 when it exists.
- `POST /api/{type}s/{repo}/preupload/{rev}` → every file `uploadMode: "regular"` with `oid` (git blob
  sha1) when the path exists, so the client commits contents inline (base64) and never starts an
  LFS or Xet upload (it only does so for files the server marks "lfs").
- `POST /api/{type}s/{repo}/commit/{rev}` (NDJSON: header, file/base64, deletedFile, deletedFolder)
  → `{"commitOid", "commitUrl"}`; an `lfsFile` line is refused (we never asked for LFS).
- `POST /api/{type}s/{repo}/paths-info/{rev}` (form: paths=…&expand=…) → entries for existing paths.
- `GET /api/{type}s/{repo}/tree/{rev}[/{path}]` → direct children, paginated with a GitHub-style
  `Link: <…>; rel="next"` header (page size settable to exercise pagination); 404 `EntryNotFound`
  for a missing folder.
- `HEAD`/`GET /{type}s/{repo}/resolve/{rev}/{path}` → bytes with `ETag` (git blob sha1, as the Hub
  sends for regular files), `X-Repo-Commit`, `Content-Length`; no `X-Xet-*` headers or `Link: …xet-auth`,
  so downloads are plain HTTP. Missing file: 404 with `X-Error-Code: EntryNotFound`.
- Auth: `Authorization: Bearer <token>` must match; a wrong token gets 401 with
  `X-Error-Message: Invalid credentials in Authorization header` (as the Hub), no token a bare 401;
  a read-only token (`read_only_tokens`) reads but gets 403 on writes (create, preupload, commit).
  A missing repo is 404 with `X-Error-Code: RepoNotFound`.

Every request is logged (`requests`) so tests can count commits and check nothing else was called.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    head: str = "0" * 40
    commits: list[dict[str, Any]] = field(default_factory=list)


class FakeHub:
    """The server state plus the thread serving it; use as a context manager."""

    def __init__(self, token: str = "hf_test_token") -> None:
        self.token = token
        self.read_only_tokens: set[str] = set()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.page_size = 1000
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakehub", daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def commits(self, repo_id: str, repo_type: str = "dataset") -> list[dict[str, Any]]:
        return self.repos[(repo_type, repo_id)].commits

    def files(self, repo_id: str, repo_type: str = "dataset") -> dict[str, bytes]:
        return self.repos[(repo_type, repo_id)].files


def _make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after shutdown

        def log_message(self, format: str, *args: Any) -> None:
            pass

        # -- plumbing ------------------------------------------------------------------------
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _send(
            self, status: int, body: bytes | Any = b"", headers: dict[str, str] | None = None, head: bool = False
        ) -> None:
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _error(self, status: int, message: str, code: str | None = None, head: bool = False, **extra: str) -> None:
            headers = {"X-Error-Message": message, **extra}
            if code:
                headers["X-Error-Code"] = code
            self._send(status, {"error": message}, headers, head=head)

        def _authorized(self, head: bool = False) -> bool:
            auth = self.headers.get("Authorization")
            if auth is None:
                self._send(401, {"error": "Unauthorized"}, head=head)
                return False
            if auth in {f"Bearer {t}" for t in hub.read_only_tokens}:
                if self.command == "POST" and not self.path.split("?")[0].endswith(("/paths-info/main",)):
                    self._error(403, "You don't have the rights to write to this repo", head=head)
                    return False
                return True
            if auth != f"Bearer {hub.token}":
                self._error(401, "Invalid credentials in Authorization header", head=head)
                return False
            return True

        def _repo(self, repo_type: str, repo_id: str, head: bool = False) -> Repo | None:
            repo = hub.repos.get((repo_type, repo_id))
            if repo is None:
                self._error(404, "Repository not found", "RepoNotFound", head=head)
            return repo

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            hub.requests.append((method, url.path))
            body = self._body() if method in ("POST", "PUT") else b""
            head = method == "HEAD"
            if not self._authorized(head):
                return
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            query = parse_qs(url.query)
            with hub.lock:
                if parts[:3] == ["api", "repos", "create"] and method == "POST":
                    return self._create(json.loads(body))
                if len(parts) >= 6 and parts[0] == "api" and parts[1] in ("datasets", "models", "spaces"):
                    repo_type = parts[1][:-1]
                    repo_id = f"{parts[2]}/{parts[3]}"
                    action, rev, rest = parts[4], parts[5], "/".join(parts[6:])
                    repo = self._repo(repo_type, repo_id)
                    if repo is None:
                        return None
                    if rev != "main":
                        return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                    if action == "preupload" and method == "POST":
                        return self._preupload(repo, json.loads(body))
                    if action == "commit" and method == "POST":
                        return self._commit(repo, repo_type, repo_id, body)
                    if action == "paths-info" and method == "POST":
                        return self._paths_info(repo, parse_qs(body.decode()))
                    if action == "tree" and method == "GET":
                        return self._tree(repo, url.path, rest, query)
                    if action == "revision" and method == "GET":
                        return self._send(200, {"id": repo_id, "sha": repo.head, "private": repo.private})
                if len(parts) >= 6 and parts[0] in ("datasets", "spaces") and parts[3] == "resolve":
                    repo = self._repo(parts[0][:-1], f"{parts[1]}/{parts[2]}", head=head)
                    if repo is None:
                        return None
                    return self._resolve(repo, "/".join(parts[5:]), head)
            return self._error(404, f"no route for {method} {url.path}", head=head)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        # -- endpoints -----------------------------------------------------------------------
        def _create(self, payload: dict[str, Any]) -> None:
            repo_type = payload.get("type") or "model"
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            if (repo_type, repo_id) in hub.repos:
                return self._send(409, {"error": "You already created this repo", "url": self._url(repo_type, repo_id)})
            private = payload.get("visibility") == "private" or bool(payload.get("private"))
            hub.repos[(repo_type, repo_id)] = Repo(repo_type=repo_type, private=private)
            return self._send(200, {"url": self._url(repo_type, repo_id), "name": repo_id})

        def _url(self, repo_type: str, repo_id: str) -> str:
            prefix = "" if repo_type == "model" else f"{repo_type}s/"
            return f"{hub.endpoint}/{prefix}{repo_id}"

        def _preupload(self, repo: Repo, payload: dict[str, Any]) -> None:
            files = []
            for f in payload["files"]:
                entry: dict[str, Any] = {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                if f["path"] in repo.files:
                    entry["oid"] = git_blob_id(repo.files[f["path"]])
                files.append(entry)
            self._send(200, {"files": files, "commitOid": repo.head})

        def _commit(self, repo: Repo, repo_type: str, repo_id: str, body: bytes) -> None:
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            new = dict(repo.files)
            header: dict[str, Any] = {}
            for item in lines:
                key, value = item["key"], item["value"]
                if key == "header":
                    header = value
                elif key == "file":
                    if value.get("encoding") != "base64":
                        return self._error(400, "only base64 file contents are supported")
                    new[value["path"]] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    if value["path"] not in new:
                        return self._error(404, "A file with this name doesn't exist", "EntryNotFound")
                    del new[value["path"]]
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    for p in [p for p in new if p.startswith(folder)]:
                        del new[p]
                else:
                    return self._error(400, f"unsupported commit operation {key!r} (this fake Hub only does regular)")
            sha = hashlib.sha1(f"{repo.head}{body!r}{len(repo.commits)}".encode()).hexdigest()
            repo.files = new
            repo.head = sha
            repo.commits.append({"oid": sha, "summary": header.get("summary"), "operations": len(lines) - 1})
            prefix = "" if repo_type == "model" else f"{repo_type}s/"
            self._send(
                200, {"success": True, "commitOid": sha, "commitUrl": f"{hub.endpoint}/{prefix}{repo_id}/commit/{sha}"}
            )

        def _entries(self, repo: Repo, paths: list[str]) -> list[dict[str, Any]]:
            out = []
            for p in paths:
                if p in repo.files:
                    data = repo.files[p]
                    out.append({"type": "file", "oid": git_blob_id(data), "size": len(data), "path": p})
                elif any(f.startswith(p.rstrip("/") + "/") for f in repo.files):
                    out.append({"type": "directory", "oid": hashlib.sha1(p.encode()).hexdigest(), "path": p})
            return out

        def _paths_info(self, repo: Repo, form: dict[str, list[str]]) -> None:
            self._send(200, self._entries(repo, form.get("paths", [])))

        def _tree(self, repo: Repo, url_path: str, folder: str, query: dict[str, list[str]]) -> None:
            folder = folder.strip("/")
            prefix = f"{folder}/" if folder else ""
            children: set[str] = set()
            for p in repo.files:
                if p.startswith(prefix):
                    head = p[len(prefix) :].split("/", 1)[0]
                    children.add(prefix + head)
            if folder and not children:
                return self._error(404, f"{folder} does not exist on main", "EntryNotFound")
            entries = self._entries(repo, sorted(children))
            start = int(query.get("cursor", ["0"])[0])
            page = entries[start : start + hub.page_size]
            headers = {}
            if start + hub.page_size < len(entries):
                rec = query.get("recursive", ["False"])[0]
                exp = query.get("expand", ["False"])[0]
                nxt = f"{hub.endpoint}{url_path}?recursive={rec}&expand={exp}&cursor={start + hub.page_size}"
                headers["Link"] = f'<{nxt}>; rel="next"'
            self._send(200, page, headers)

        def _resolve(self, repo: Repo, path: str, head: bool) -> None:
            if path not in repo.files:
                return self._error(404, "Entry not found", "EntryNotFound", head=head, **{"X-Repo-Commit": repo.head})
            data = repo.files[path]
            headers = {
                "ETag": f'"{git_blob_id(data)}"',
                "X-Repo-Commit": repo.head,
                "Content-Type": "application/octet-stream",
                "Accept-Ranges": "bytes",
            }
            return self._send(200, data, headers, head=head)

    return Handler
