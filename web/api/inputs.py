"""Browsing the input root: folders and how many frames each holds."""

from __future__ import annotations

import os

from flask import jsonify, request

from img2vid.images import is_image_name

from ..services import services
from . import api

MAX_FOLDERS = 1000


def _count(path: str) -> tuple[int, int]:
    frames = folders = 0
    with os.scandir(path) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                folders += 1
            elif is_image_name(e.name):
                frames += 1
    return frames, folders


@api.get("/inputs")
def list_inputs():
    svc = services()
    rel = request.args.get("dir", "")
    folder = svc.volume.resolve_input(rel) if rel else svc.volume.inputs.resolve()
    if not folder.is_dir():
        return jsonify(dir="", frames=0, folders=[])
    frames, _ = _count(str(folder))
    subs = []
    with os.scandir(folder) as it:
        dirs = sorted((e for e in it if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name.casefold())
    for e in dirs[:MAX_FOLDERS]:
        n, k = _count(e.path)
        subs.append({"dir": svc.volume.relative_input(e.path), "frames": n, "folders": k})
    return jsonify(dir=rel, frames=frames, folders=subs)
