"""Turns text into a fixed-size vector of hashed word counts (the hashing
trick), so the model needs no vocabulary file."""

import re
import sys
import zlib

import numpy as np

DIMENSIONS = 64
_WORD = re.compile(r"[a-z']+")


def words(text):
    return _WORD.findall(text.lower())


def featurize(texts):
    """One row of word counts per text, float32."""
    rows = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    for row, text in zip(rows, texts):
        for word in words(text):
            row[zlib.crc32(word.encode()) % DIMENSIONS] += 1.0
    return rows


def warn(message):
    print(f"tagger: {message}", file=sys.stderr)
