#!/usr/bin/env python3
"""boto3 against Coffer with credentials from a container-credentials endpoint only.

The caller sets AWS_CONTAINER_CREDENTIALS_FULL_URI (a Coffer temporary-credentials URL)
and AWS_CONTAINER_AUTHORIZATION_TOKEN (sent verbatim as the Authorization header by
botocore's container provider), and no other AWS credentials. The script checks that
botocore resolved its credentials through that provider, then lists BUCKET and reads KEY,
comparing the body with EXPECTED.

Usage: boto3-container-credentials.py S3_ENDPOINT BUCKET KEY EXPECTED
Exit status 0 and a final line "ok" on success; 2 when boto3 is not installed.
"""

import sys

try:
    import boto3
    from botocore.config import Config
except ImportError:
    print("boto3 is not installed", file=sys.stderr)
    sys.exit(2)


def main() -> int:
    endpoint, bucket, key, expected = sys.argv[1:5]
    session = boto3.session.Session(region_name="us-east-1")
    creds = session.get_credentials()
    if creds is None:
        print("no credentials resolved", file=sys.stderr)
        return 1
    method = getattr(creds, "method", "")
    if method != "container-role":
        print(f"credentials came from {method!r}, not the container provider", file=sys.stderr)
        return 1
    frozen = creds.get_frozen_credentials()
    if not frozen.access_key.startswith("CW") or not frozen.token:
        print(f"unexpected credentials: {frozen.access_key!r}", file=sys.stderr)
        return 1

    s3 = session.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    listed = s3.list_objects_v2(Bucket=bucket)
    keys = [o["Key"] for o in listed.get("Contents", [])]
    if key not in keys:
        print(f"{key!r} not listed in {keys!r}", file=sys.stderr)
        return 1
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    if body != expected:
        print(f"body {body!r} != {expected!r}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
