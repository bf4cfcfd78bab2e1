"""Browsing the input root: folders and how many frames each holds."""

from __future__ import annotations

import os

from flask import jsonify, request

from img2vid.errors import BadSourceError
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
    try:
        frames, _ = _count(str(folder))
        with os.scandir(folder) as it:
            dirs = sorted((e for e in it if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name.casefold())
    except OSError as exc:  # not readable by the service: say so by the client's name
        raise BadSourceError(f"the folder {rel or '(the input root)'!r} cannot be listed: {exc.strerror}") from None
    subs = []
    for e in dirs[:MAX_FOLDERS]:
        try:
            n, k = _count(e.path)
        except OSError:
            continue  # a sub-folder the service cannot read holds nothing it could use
        subs.append({"dir": svc.volume.relative_input(e.path), "frames": n, "folders": k})
    return jsonify(dir=rel, frames=frames, folders=subs)
