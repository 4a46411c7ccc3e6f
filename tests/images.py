"""Checks on the images the commands write."""

from __future__ import annotations

from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_png(path: Path, min_size: int = 0) -> bool:
    """Whether ``path`` is a valid PNG (PIL verifies it) wider and taller than ``min_size``."""
    from PIL import Image

    if not path.read_bytes().startswith(PNG_SIGNATURE):
        return False
    with Image.open(path) as image:
        image.verify()
        return image.size[0] > min_size and image.size[1] > min_size
