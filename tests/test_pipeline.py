"""The ordered, bounded decode pool."""

import random
import threading
import time

from img2vid.engine.pipeline import ordered_map


def test_results_come_back_in_order_whatever_finishes_first():
    def work(i):
        time.sleep(random.uniform(0, 0.005))
        return i * i

    out = [f.result() for _, f in ordered_map(work, range(50), threads=4, window=8, on_wait=lambda: None)]
    assert out == [i * i for i in range(50)]


def test_never_more_than_the_window_is_decoded_ahead_of_the_consumer():
    # given a consumer slower than the workers
    lock = threading.Lock()
    state = {"started": 0, "consumed": 0, "most_ahead": 0}

    def work(i):
        with lock:
            state["started"] += 1
            state["most_ahead"] = max(state["most_ahead"], state["started"] - state["consumed"])
        return i

    for _, f in ordered_map(work, range(200), threads=4, window=5, on_wait=lambda: None):
        f.result()
        with lock:
            state["consumed"] += 1
    # then at most `window` items were ever in flight or waiting
    assert state["started"] == 200
    assert state["most_ahead"] <= 5


def test_leaving_early_cancels_what_has_not_started():
    started = []

    def work(i):
        started.append(i)
        return i

    for i, _f in ordered_map(work, range(1000), threads=2, window=4, on_wait=lambda: None):
        if i == 3:
            break
    assert len(started) <= 3 + 1 + 4
