"""Small builders shared by tests: a tiny saved image model and PNG payloads."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image


def save_image_model(folder: Path, labels: list[str], version: str = "t1", seed: int = 0) -> Path:
    """An untrained (random-weight) image classifier saved the way training saves one."""
    from training.config import ImageModelConfig
    from training.models import as_served, build_image_model, keras  # via training: TF_USE_LEGACY_KERAS set first

    keras.utils.set_random_seed(seed)
    model = as_served(build_image_model(ImageModelConfig(conv_filters=(4,), dense_units=8), (28, 28, 1), len(labels)))
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    (folder / "labels.json").write_text(json.dumps(labels))
    (folder / "model.json").write_text(json.dumps({"kind": "image", "name": "image_classifier", "version": version}))
    return folder


def random_pngs(n: int, seed: int = 3) -> tuple[list[np.ndarray], list[bytes]]:
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 255, (28, 28), dtype=np.uint8) for _ in range(n)]
    pngs = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    return arrays, pngs


def cmdlines() -> list[str]:
    """Every process's command line, as any local user reads it in ``/proc``."""
    out = []
    for f in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            out.append(f.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
    return out


def listening(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket listening in the process groups of ``pids`` (from ``/proc``)."""
    import socket
    import struct

    inodes = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(proc.name)) not in pids:
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (OSError, ValueError):
            continue
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            addr, port = cols[1].split(":")
            raw = bytes.fromhex(addr)
            raw = b"".join(struct.pack("<I", w) for w in struct.unpack(f">{len(raw) // 4}I", raw))
            found.append((socket.inet_ntop(family, raw), int(port, 16)))
    return found


def recording_server(reply: bytes = b"ok"):
    """A loopback HTTP server that records each request as (method, path, body) and answers ``reply``;
    returns (server, requests). Call ``server.shutdown()`` and ``server.server_close()`` when done."""
    import http.server
    import threading

    requests: list[tuple[str, str, bytes]] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def _record(self):
            length = int(self.headers.get("Content-Length") or 0)
            requests.append((self.command, self.path, self.rfile.read(length) if length else b""))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = _record  # noqa: N815 (the handler's names)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, requests
