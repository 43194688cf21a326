"""Real photographs as a video, for judging pretrained image features.

The photos are scikit-image's sample data (``skimage.data``, installed with the dev extra):
Chelsea the cat and a cup of coffee (both CC0, from scikit-image's gallery) and a Saturn V
rocket on its launch pad (NASA, public domain). Each is held for a known span of the video,
so a frame's true content is known from its time alone; the ImageNet classes each photo
belongs to are stated from what it shows, not from any model.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = ["PHOTOS", "Photo", "load_picture", "make_photo_video"]


@dataclass(frozen=True)
class Photo:
    name: str  # function of skimage.data, or sklearn:NAME (see load_picture)
    imagenet: frozenset[int]  # ImageNet-1k classes a right answer may be


PHOTOS = (
    Photo("chelsea", frozenset({281, 282, 285})),  # tabby, tiger cat, Egyptian cat
    Photo("coffee", frozenset({967, 968, 504})),  # espresso, cup, coffee mug
    Photo("rocket", frozenset({657, 744, 812})),  # missile, projectile, space shuttle
)


def load_picture(name: str) -> np.ndarray:
    """RGB uint8 of a real picture: a function of ``skimage.data`` by name (grey ones made
    RGB), or ``sklearn:china`` / ``sklearn:flower`` (scikit-learn's two sample photos)."""
    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name.split(':', 1)[1]}.jpg")
    import skimage.data

    x = np.asarray(getattr(skimage.data, name)())
    if x.dtype == bool:
        x = x.astype(np.uint8) * 255
    if x.ndim == 2:
        x = np.stack([x] * 3, axis=-1)
    return np.ascontiguousarray(x[..., :3])


def make_photo_video(
    path: str, photos=PHOTOS, seconds_each: int = 1, fps: int = 10, size=(480, 320)
) -> list[tuple[int, int, Photo]]:
    """An H.264 MP4 showing each photo (resized to ``size``) for ``seconds_each`` seconds, in
    turn; returns ``(start_us, end_us, photo)`` of each, half-open."""
    import av
    import cv2

    truth = []
    with av.open(path, mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.codec_context.options = {"preset": "veryfast", "crf": "18"}
        n = 0
        for k, photo in enumerate(photos):
            rgb = cv2.resize(load_picture(photo.name), size, interpolation=cv2.INTER_AREA)
            truth.append((k * seconds_each * 1_000_000, (k + 1) * seconds_each * 1_000_000, photo))
            for _ in range(seconds_each * fps):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts, frame.time_base = n, Fraction(1, fps)
                out.mux(stream.encode(frame))
                n += 1
        out.mux(stream.encode(None))
    return truth
