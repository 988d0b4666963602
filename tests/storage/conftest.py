"""Remote-store fixtures: a real S3 server (moto) and a fake HuggingFace Hub, both on 127.0.0.1."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .fakehub import FakeHub

S3_KEY = "testing-key"
S3_SECRET = "testing-secret"
S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server in a thread on 127.0.0.1 (started once per session: it takes ~2 s)."""
    pytest.importorskip("moto", reason="moto[server] is a dev dependency (uv sync installs it)")
    from moto.server import ThreadedMotoServer

    # werkzeug logs one line per request at INFO; keep the test output readable.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_options(moto_endpoint: str) -> dict[str, Any]:
    """fsspec/s3fs storage options pointing at the moto server."""
    return {
        "key": S3_KEY,
        "secret": S3_SECRET,
        "endpoint_url": moto_endpoint,
        "client_kwargs": {"region_name": S3_REGION},
    }


@pytest.fixture
def s3_bucket(moto_endpoint: str, s3_options: dict[str, Any]) -> str:
    """A fresh, empty bucket on the moto server."""
    import boto3  # comes with moto; s3fs's mkdir sends a LocationConstraint us-east-1 refuses

    name = f"prs-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name=S3_REGION,
    )
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()
    return name


@pytest.fixture
def s3fs_client(s3_options: dict[str, Any]):
    """An independent s3fs client, to look at or tamper with the bucket behind the store's back."""
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **s3_options)


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub
