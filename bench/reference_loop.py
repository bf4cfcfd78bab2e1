"""The original script, kept as the baseline: read every frame into a list, then write
them all with OpenCV's mp4v at 5 fps. Do not improve it; it is what we measure against."""

import os
import sys

import cv2


def main(folder: str, output: str) -> None:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".jpg", ".png")))
    frames = [cv2.imread(os.path.join(folder, n)) for n in names]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"MP4V"), 5, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
