"""House rules: web never loads OpenCV, the engine never loads Flask or Celery."""

import subprocess
import sys


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split())


def test_web_imports_no_opencv_or_numpy():
    mods = loaded_after("import web; web.create_app()")
    assert "flask" in mods
    assert not {"cv2", "numpy", "av"} & mods


def test_the_engine_imports_no_flask_or_celery():
    mods = loaded_after("import worker.engine")
    assert "cv2" in mods
    assert not {"flask", "celery"} & mods


def test_the_shared_package_and_cli_import_neither():
    mods = loaded_after("import img2vid.cli, img2vid.options, img2vid.codecs, img2vid.errors")
    assert not {"cv2", "numpy", "flask", "celery"} & mods
