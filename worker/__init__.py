"""The worker side: the encoding engine (``worker.engine``), plain Python and OpenCV.

The Celery app that runs it as a job service joins this package in the queue issue;
the engine itself never imports Celery.
"""
