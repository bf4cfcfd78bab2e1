"""Browsing the input root: folders and how many frames each holds."""

from __future__ import annotations

from flask import jsonify, request

from web.api.blueprint import api
from web.api.schemas import InputFolder, InputList
from web.services import services


@api.get("/inputs")
def list_inputs():
    rel = request.args.get("dir", "")
    frames, folders = services().storage.list_inputs(rel)
    listing = InputList(
        dir=rel, frames=frames, folders=[InputFolder(dir=f.dir, frames=f.frames, folders=f.folders) for f in folders]
    )
    return jsonify(listing.model_dump(mode="json"))
