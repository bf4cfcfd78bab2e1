"""img2vid: the code both sides share (errors, codecs, job options, settings) and the CLI.

Nothing here imports OpenCV or Flask, so the web image and the worker image can both
install it.
"""

__version__ = "0.1.0"
