"""img2vid: frames in, a video out, as a one-shot CLI or as a job service.

The parts, each a package (docs/architecture.md draws them): ``engine`` turns frames into
a video; ``store`` keeps the jobs in Redis; ``settings``, ``job``, ``volume``, ``errors``
and ``logs`` are what web, worker and CLI share; ``cli`` is the ``img2vid`` command.
Importing ``img2vid`` itself loads none of them, so the web image can install it without
OpenCV.
"""

__version__ = "0.1.0"
