#!/usr/bin/env python3
"""Real clients through a compute-node cache (`coffer cache`): boto3 and aws-cli, with
nothing changed but the endpoint, get exactly the bytes the origin stores.

For each key named (its SHA-256 given, as the origin stored it), through the cache:
  * boto3 get_object, twice (a miss that fills, then a hit), and three ranges;
  * boto3 download_file (s3transfer: concurrent ranged GETs);
  * `aws s3 cp s3://bucket/key -` (aws-cli's own transfer manager);
and an upload through the cache with boto3 upload_file (multipart, concurrent parts),
read back through the cache.

Usage: cache-clients.py CACHE_ENDPOINT ACCESS_KEY SECRET BUCKET KEY=SHA256 [KEY=SHA256 ...]
Exit status 0 and a final line "ok" on success; 2 when boto3/awscli are missing.
"""

import hashlib
import os
import subprocess
import sys
import tempfile

try:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
except ImportError:
    print("boto3 is not installed", file=sys.stderr)
    sys.exit(2)

ENDPOINT, AK, SK, BUCKET = sys.argv[1:5]
WANT = dict(arg.split("=", 1) for arg in sys.argv[5:])
REGION = "US-EAST-04A"


def sha(b):
    return hashlib.sha256(b).hexdigest()


s3 = boto3.client(
    "s3",
    endpoint_url=ENDPOINT,
    aws_access_key_id=AK,
    aws_secret_access_key=SK,
    region_name=REGION,
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
small_parts = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20,
                             max_concurrency=4)

for key, digest in WANT.items():
    for attempt in ("miss", "hit"):
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert sha(body) == digest, f"{key} ({attempt}): wrong bytes"
    size = len(body)
    for first, last in ((0, 0), (size // 3, size // 3 + 70_000), (size - 1000, size - 1)):
        got = s3.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={first}-{last}")["Body"].read()
        assert got == body[first:last + 1], f"{key} bytes={first}-{last}: wrong bytes"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f")
        s3.download_file(BUCKET, key, path, Config=small_parts)
        with open(path, "rb") as f:
            assert sha(f.read()) == digest, f"{key}: download_file got wrong bytes"
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK,
               AWS_DEFAULT_REGION=REGION)
    out = subprocess.run(
        [sys.executable, "-m", "awscli", "s3", "cp", f"s3://{BUCKET}/{key}", "-",
         "--endpoint-url", ENDPOINT],
        env=env, capture_output=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"aws s3 cp failed: {out.stderr.decode()}")
    assert sha(out.stdout) == digest, f"{key}: aws s3 cp got wrong bytes"

# An upload through the cache (passed through to the origin), read back through it.
data = os.urandom(12 << 20)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "up")
    with open(path, "wb") as f:
        f.write(data)
    s3.upload_file(path, BUCKET, "uploaded-through-cache", Config=small_parts)
got = s3.get_object(Bucket=BUCKET, Key="uploaded-through-cache")["Body"].read()
assert got == data, "upload through the cache: wrong bytes back"
print("ok")
