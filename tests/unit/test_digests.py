"""The manifest's hashes of files: BLAKE3 for new manifests, SHA-256 for those of before."""

from __future__ import annotations

import hashlib
import os

import blake3
import pytest

from backups import digests


@pytest.mark.parametrize(
    ("algorithm", "reference"),
    [
        ("blake3", lambda d: blake3.blake3(d).hexdigest()),
        ("sha256", lambda d: hashlib.sha256(d).hexdigest()),
    ],
)
def test_a_file_hashes_as_the_algorithm_itself_hashes_its_bytes(tmp_path, algorithm, reference):
    buffer = digests.read_buffer()
    # Empty, smaller than a read, and across several reads with a short last one.
    for size in (0, 1000, 3 * digests.READ_SIZE + 17):
        data = os.urandom(size)
        (tmp_path / "f").write_bytes(data)
        with open(tmp_path / "f", "rb", buffering=0) as handle:
            assert digests.hash_file(handle, algorithm, buffer) == reference(data), size


def test_blake3_is_the_published_function():
    # The BLAKE3 specification's value for the empty input.
    expected = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert digests.new_hasher("blake3").hexdigest() == expected


def test_an_unknown_algorithm_is_refused():
    with pytest.raises(ValueError, match="unknown hash algorithm 'md5'"):
        digests.new_hasher("md5")
