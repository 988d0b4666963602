"""Remote-store fixtures: an s3fs client on the moto server (tests/conftest.py starts it) and a fake
HuggingFace Hub on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .fakehub import FakeHub


@pytest.fixture
def s3fs_client(s3_options: dict[str, Any]):
    """An independent s3fs client, to look at or tamper with the bucket behind the store's back."""
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **s3_options)


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub
