#!/usr/bin/env python3
"""Virtual-hosted-style addressing (`Host: <bucket>.<domain>`) driven by boto3.

Run by scripts/virtual-host-boto3.sh against a `coffer server --domain s3.coffer.test`.
boto3 is configured with `addressing_style: virtual` and the endpoint
`http://s3.coffer.test:<port>`, so it puts the bucket in the host name. A botocore
`before-send` hook records every request's URL; each bucket-level call must have gone
to `<bucket>.s3.coffer.test:<port>` with a path that does not start with `/<bucket>`.

Steps: create_bucket, put_object, a two-part multipart upload (5 MiB + 1 KiB),
list_objects_v2, get_object, head_object, a presigned GET URL fetched with urllib,
copy_object, delete_objects, delete_bucket; path-style requests against the same server
(they must keep working); a host naming a bucket that does not exist (404 NoSuchBucket).

Usage: virtual-host-boto3.py PORT ACCESS_KEY SECRET
Exits 0 on success (the last line is "ok"), 1 on the first failed check, 2 when boto3 is
not installed.
"""

import hashlib
import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:
    print("boto3 is not installed (scripts/test-env.sh installs it)", file=sys.stderr)
    sys.exit(2)

DOMAIN = "s3.coffer.test"
REGION = "US-EAST-04A"
PORT, AK, SK = sys.argv[1], sys.argv[2], sys.argv[3]
ENDPOINT = f"http://{DOMAIN}:{PORT}"
BUCKET = "vhost-bucket"
MISSING = "vhost-missing"

# A test machine has no wildcard DNS record. In production, `*.s3.example.com` (and
# `s3.example.com`) resolve to the server; here every name under s3.coffer.test resolves
# to 127.0.0.1 by wrapping the resolver of this process (boto3 through urllib3, and
# urllib, both connect with socket.getaddrinfo). Nothing outside the process changes
# (no /etc/hosts edit). The Host header still carries `<bucket>.s3.coffer.test:<port>`.
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, port, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str):
        name = name.rstrip(".").lower()
        if name == DOMAIN or name.endswith("." + DOMAIN):
            host = "127.0.0.1"
    return _real_getaddrinfo(host, port, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo

# A proxy from the environment would receive the made-up names instead of our resolver.
for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(var, None)


def check(cond, what):
    if not cond:
        print(f"FAIL {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok   {what}")


SENT = []  # (operation, method, url) of every request a client sent


def record(request, event_name, **_):
    SENT.append((event_name.rsplit(".", 1)[-1], request.method, request.url))


def client(style):
    c = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name=REGION,
        config=Config(s3={"addressing_style": style}, signature_version="s3v4",
                      retries={"max_attempts": 1}),
    )
    c.meta.events.register("before-send.s3", record)
    return c


s3 = client("virtual")
path_s3 = client("path")


def virtual(op, bucket, **params):
    """Calls s3.<op>(Bucket=bucket, ...) and checks the requests it sent were
    virtual-hosted style: host <bucket>.<domain>:<port>, path without /<bucket>."""
    start = len(SENT)
    try:
        return getattr(s3, op)(Bucket=bucket, **params)
    finally:
        sent = SENT[start:]
        if not sent:
            check(False, f"{op}: a request was sent")
        for _, method, url in sent:
            u = urlsplit(url)
            check(u.netloc == f"{bucket}.{DOMAIN}:{PORT}" and not u.path.startswith(f"/{bucket}"),
                  f"{op}: {method} {u.scheme}://{u.netloc}{u.path} (virtual-hosted style)")


def read(resp):
    return resp["Body"].read()


# --- Bucket and a small object.
virtual("create_bucket", BUCKET)
small = b"hello from a virtual host\n"
put = virtual("put_object", BUCKET, Key="docs/hello.txt", Body=small,
              ContentType="text/plain", Metadata={"style": "virtual"})
check(put["ETag"] == '"%s"' % hashlib.md5(small).hexdigest(), "put_object ETag is the MD5")

# --- Multipart: 5 MiB + 1 KiB.
part1 = os.urandom(5 * 1024 * 1024)
part2 = os.urandom(1024)
mpu = virtual("create_multipart_upload", BUCKET, Key="big/object.bin")
uid = mpu["UploadId"]
e1 = virtual("upload_part", BUCKET, Key="big/object.bin", UploadId=uid, PartNumber=1, Body=part1)
e2 = virtual("upload_part", BUCKET, Key="big/object.bin", UploadId=uid, PartNumber=2, Body=part2)
done = virtual("complete_multipart_upload", BUCKET, Key="big/object.bin", UploadId=uid,
               MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1["ETag"]},
                                          {"PartNumber": 2, "ETag": e2["ETag"]}]})
check(done["ETag"].strip('"').endswith("-2"), f"multipart ETag {done['ETag']} names 2 parts")

# --- List, get, head.
listed = virtual("list_objects_v2", BUCKET)
check(sorted(o["Key"] for o in listed.get("Contents", [])) == ["big/object.bin", "docs/hello.txt"],
      "list_objects_v2 lists both objects")
check(read(virtual("get_object", BUCKET, Key="docs/hello.txt")) == small,
      "get_object returns the small object's bytes")
big = read(virtual("get_object", BUCKET, Key="big/object.bin"))
check(hashlib.sha256(big).digest() == hashlib.sha256(part1 + part2).digest(),
      "get_object returns the multipart object's bytes (5 MiB + 1 KiB)")
head = virtual("head_object", BUCKET, Key="docs/hello.txt")
check(head["ContentLength"] == len(small) and head["ETag"] == put["ETag"]
      and head["ContentType"] == "text/plain" and head["Metadata"] == {"style": "virtual"},
      "head_object: length, ETag, content type and metadata")

# --- Presigned GET, virtual style, fetched with urllib (same resolver wrapper).
url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "docs/hello.txt"},
                                ExpiresIn=300)
u = urlsplit(url)
check(u.netloc == f"{BUCKET}.{DOMAIN}:{PORT}" and u.path == "/docs/hello.txt",
      f"presigned URL is virtual-hosted style ({u.scheme}://{u.netloc}{u.path}?...)")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(url, timeout=30) as r:
    check(r.status == 200 and r.read() == small, "presigned GET URL returns the object")
# The signature covers the host: the same query string on the bare domain (path style)
# names another resource and must be refused.
tampered = f"{u.scheme}://{DOMAIN}:{PORT}/{BUCKET}{u.path}?{u.query}"
try:
    opener.open(tampered, timeout=30)
    check(False, "presigned URL replayed with another Host is refused")
except urllib.error.HTTPError as e:
    check(e.code == 403, f"presigned URL replayed with another Host is refused ({e.code})")

# --- Copy within the bucket.
virtual("copy_object", BUCKET, Key="docs/copy.txt",
        CopySource={"Bucket": BUCKET, "Key": "docs/hello.txt"})
check(read(virtual("get_object", BUCKET, Key="docs/copy.txt")) == small,
      "copy_object: the copy has the source's bytes")

# --- Path style keeps working on the same server: on the bare domain and on 127.0.0.1.
start = len(SENT)
got = read(path_s3.get_object(Bucket=BUCKET, Key="docs/copy.txt"))
(_, _, purl), = SENT[start:]
pu = urlsplit(purl)
check(pu.netloc == f"{DOMAIN}:{PORT}" and pu.path == f"/{BUCKET}/docs/copy.txt",
      f"path-style request went to {DOMAIN}:{PORT}/{BUCKET}/...")
check(got == small, "path-style get_object on the bare domain returns the object")
ip_s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{PORT}", aws_access_key_id=AK,
                     aws_secret_access_key=SK, region_name=REGION,
                     config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
check(len(ip_s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])) == 3,
      "path-style list_objects_v2 on 127.0.0.1 sees the three objects")

# --- A host naming a bucket that does not exist: 404 NoSuchBucket.
try:
    virtual("list_objects_v2", MISSING)
    check(False, f"{MISSING}.{DOMAIN} is refused")
except ClientError as e:
    status = e.response["ResponseMetadata"]["HTTPStatusCode"]
    code = e.response["Error"]["Code"]
    check(status == 404 and code == "NoSuchBucket",
          f"{MISSING}.{DOMAIN}: {status} {code}")

# --- Clean up: delete_objects, delete_bucket.
deleted = virtual("delete_objects", BUCKET, Delete={"Objects": [
    {"Key": "docs/hello.txt"}, {"Key": "docs/copy.txt"}, {"Key": "big/object.bin"}]})
check(sorted(d["Key"] for d in deleted.get("Deleted", []))
      == ["big/object.bin", "docs/copy.txt", "docs/hello.txt"] and not deleted.get("Errors"),
      "delete_objects deleted the three objects")
check(virtual("list_objects_v2", BUCKET).get("KeyCount") == 0, "the bucket is empty")
virtual("delete_bucket", BUCKET)
try:
    virtual("head_bucket", BUCKET)
    check(False, "the deleted bucket is gone")
except ClientError as e:
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, "the deleted bucket is gone (404)")

n = sum(1 for _, _, url in SENT if urlsplit(url).netloc.endswith(f".{DOMAIN}:{PORT}"))
print(f"ok   {n} virtual-hosted-style requests, {len(SENT) - n} path-style")
print("ok")
