"""What web and worker agree on about the Celery queue: the task's name, and the
priorities its messages carry.

Kombu's Redis transport keeps one list per priority step and takes from the highest
(0) first. A job taken back from a lost or stopping worker is sent at the top, so that
it starts again at once rather than behind everything queued since it first started.
"""

ENCODE_TASK = "img2vid.encode"
PRIORITY_NEW = 5
PRIORITY_RETAKEN = 0
