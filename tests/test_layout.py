"""House rules: web never loads OpenCV, the engine never loads Flask or Celery."""

import os
import subprocess
import sys


def loaded_after(statement: str, tmp_path) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    env = {**os.environ, "IMG2VID_DATA_DIR": str(tmp_path)}  # create_app() makes its folders there
    run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return set(run.stdout.split())


def test_web_imports_no_opencv_or_numpy(tmp_path):
    mods = loaded_after("import web; web.create_app()", tmp_path)
    assert "flask" in mods
    assert not {"cv2", "numpy", "av"} & mods


def test_the_engine_imports_no_flask_or_celery(tmp_path):
    mods = loaded_after("from img2vid.engine import encode", tmp_path)
    assert "cv2" in mods
    assert not {"flask", "celery"} & mods


def test_the_shared_package_and_cli_import_neither(tmp_path):
    mods = loaded_after("import img2vid.cli, img2vid.engine.options, img2vid.engine.codecs, img2vid.errors", tmp_path)
    assert not {"cv2", "numpy", "flask", "celery"} & mods


def test_the_celery_worker_side_imports_no_flask(tmp_path):
    mods = loaded_after("import worker.tasks", tmp_path)
    assert "celery" in mods and "cv2" in mods
    assert "flask" not in mods
