"""Checks an ``s3://`` artifacts destination before a team server starts on it.

``mlflow server`` starts happily on a bucket it cannot write and fails on the first upload, in
a kernel, as an HTTP 500. ``jupyter mlops server`` asks the object store first and refuses
with one line instead: the endpoint (``MLFLOW_S3_ENDPOINT_URL``), the bucket and the keys
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or any source boto3 reads) are checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem

ENV_S3_ENDPOINT = "MLFLOW_S3_ENDPOINT_URL"
DENIED_CODES = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


def split_s3_url(url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (UsageProblem when there is no bucket)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageProblem(f"expected s3://BUCKET[/PATH], not {url[:80]!r}")
    return parts.netloc, parts.path.strip("/")


def check_artifacts_destination(
    destination: str, env: Mapping[str, str] | None = None, timeout: float = 5.0
) -> None:
    """Nothing for a local folder or a usable ``s3://`` bucket; else one-line errors:
    ``UsageProblem`` (no client library, no keys, keys refused, no such bucket) or
    ``TrackingUnavailable`` (the endpoint does not answer)."""
    if not destination.startswith("s3://"):
        return
    bucket, _ = split_s3_url(destination)
    env = os.environ if env is None else env
    endpoint = env.get(ENV_S3_ENDPOINT) or None
    where = endpoint or "AWS S3"
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )
    except ImportError:
        raise UsageProblem(
            "s3:// artifacts need boto3: pip install 'jupyter-mlops[team]'"
        ) from None
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1})
    session = boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        region_name=env.get("AWS_DEFAULT_REGION") or None,
    )
    try:
        session.client("s3", endpoint_url=endpoint, config=config).head_bucket(Bucket=bucket)
    except NoCredentialsError:
        raise UsageProblem(
            f"no S3 credentials for {destination}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or an AWS profile) before starting the server"
        ) from None
    except EndpointConnectionError:
        raise TrackingUnavailable(
            f"object store {where} unreachable (set {ENV_S3_ENDPOINT} to its URL)"
        ) from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in DENIED_CODES:
            raise UsageProblem(
                f"object store {where} refused the S3 credentials for bucket {bucket!r} "
                f"({code}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            ) from None
        if code in {"404", "NoSuchBucket"}:
            raise UsageProblem(f"bucket {bucket!r} does not exist on {where}") from None
        raise TrackingUnavailable(f"object store {where} answered {code or exc}") from None
    except (BotoCoreError, ValueError) as exc:
        raise TrackingUnavailable(f"object store {where} unusable: {exc}") from None
