"""What web and worker agree on about the Celery queue: the task's name, and the
priorities its messages carry.

Kombu's Redis transport keeps one list per priority step and takes from the highest
(0) first. A job taken back from a lost or stopping worker is sent at the top, so that
it starts again at once rather than behind everything queued since it first started.
"""

ENCODE_TASK = "img2vid.encode"
PRIORITY_NEW = 5
PRIORITY_RETAKEN = 0

# kombu's Redis transport keeps a queue's messages in one list per priority step:
# the queue's own name (priority 0), then name + "\x06\x16" + step for steps 3, 6, 9.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def broker_lists(queue: str) -> list[str]:
    """The Redis lists that hold the queue's messages not yet taken by a worker."""
    return [queue + suffix for suffix in _PRIORITY_SUFFIXES]
