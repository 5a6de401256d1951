#!/usr/bin/env python3
"""Server-side encryption through boto3, as an S3 user writes it (crates/server/tests/it
/s3_encryption.rs runs this against a real `coffer server` that accepts SSE-C over plain
HTTP, `--allow-insecure-ssec`).

SSE-C: whole, ranged (across sealed-block and part boundaries) and partNumber reads;
multipart uploads; CopyObject and UploadPartCopy with copy-source keys; HEAD and
GetObjectAttributes; a missing key (400), a wrong key (403 AccessDenied), a key for an
unencrypted object (400); ETags that are not the plaintext's MD5. SSE-S3: explicit and
as the bucket default (Put/Get/DeleteBucketEncryption); s3transfer (upload_file /
download_file) on both.

Usage: sse-boto3.py ENDPOINT ACCESS_KEY SECRET
Exit status 0 and a final line "ok" on success; 2 when boto3 is missing.
"""

import base64
import hashlib
import os
import sys
import tempfile

try:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:
    print("boto3 is not installed", file=sys.stderr)
    sys.exit(2)

ENDPOINT, AK, SK = sys.argv[1:4]
s3 = boto3.client(
    "s3",
    endpoint_url=ENDPOINT,
    aws_access_key_id=AK,
    aws_secret_access_key=SK,
    region_name="US-EAST-04A",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
PLAIN_BLOCK = 65536 - 16
MIB = 1 << 20


def key_args(raw, prefix="SSECustomer"):
    return {
        f"{prefix}Algorithm": "AES256",
        f"{prefix}Key": base64.b64encode(raw).decode(),
        f"{prefix}KeyMD5": base64.b64encode(hashlib.md5(raw).digest()).decode(),
    }


def copy_key_args(raw):
    return key_args(raw, "CopySourceSSECustomer")


def fails(status, code, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except ClientError as e:
        got = (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])
        assert got == (status, code), f"{fn.__name__}: {got} != {(status, code)}"
        return
    raise AssertionError(f"{fn.__name__} succeeded; expected {status} {code}")


def body(n, seed):
    return (hashlib.sha256(bytes([seed])).digest() * (n // 32 + 1))[:n]


K1, K2 = os.urandom(32), os.urandom(32)
B = "sse-boto3"
s3.create_bucket(Bucket=B)

# --- SSE-C, single PUT: inline-sized and blob-sized objects -----------------------------
for name, data in (("c-small", body(1000, 1)), ("c-big", body(3 * MIB + 12345, 2))):
    r = s3.put_object(Bucket=B, Key=name, Body=data, **key_args(K1))
    assert r["SSECustomerAlgorithm"] == "AES256"
    assert r["SSECustomerKeyMD5"] == key_args(K1)["SSECustomerKeyMD5"]
    assert "ServerSideEncryption" not in r
    assert r["ETag"].strip('"') != hashlib.md5(data).hexdigest(), "SSE-C ETag is the MD5"
    g = s3.get_object(Bucket=B, Key=name, **key_args(K1))
    assert g["Body"].read() == data, name
    assert g["SSECustomerKeyMD5"] == key_args(K1)["SSECustomerKeyMD5"]
    assert g["ETag"] == r["ETag"]
    n = len(data)
    for a, b in ((0, 0), (PLAIN_BLOCK - 3, PLAIN_BLOCK + 3), (n // 2, n // 2 + 200_000),
                 (n - 17, n - 1), (5, n - 1)):
        if a >= n:
            continue
        b = min(b, n - 1)
        got = s3.get_object(Bucket=B, Key=name, Range=f"bytes={a}-{b}", **key_args(K1))
        assert got["Body"].read() == data[a:b + 1], f"{name} bytes={a}-{b}"
        assert got["ContentRange"] == f"bytes {a}-{b}/{n}"
    h = s3.head_object(Bucket=B, Key=name, **key_args(K1))
    assert h["ContentLength"] == n and h["SSECustomerAlgorithm"] == "AES256"
    # Without the key: 400; another key: 403; for HEAD, GET and GetObjectAttributes.
    fails(400, "InvalidRequest", s3.get_object, Bucket=B, Key=name)
    fails(403, "AccessDenied", s3.get_object, Bucket=B, Key=name, **key_args(K2))
    fails(400, "400", s3.head_object, Bucket=B, Key=name)
    fails(403, "403", s3.head_object, Bucket=B, Key=name, **key_args(K2))
    fails(400, "InvalidRequest", s3.get_object_attributes, Bucket=B, Key=name,
          ObjectAttributes=["ObjectSize"])
    a = s3.get_object_attributes(Bucket=B, Key=name, ObjectAttributes=["ObjectSize", "ETag"],
                                 **key_args(K1))
    assert a["ObjectSize"] == n and a["ETag"] == r["ETag"].strip('"')
    # Listing shows the object and its (masked) ETag to anyone allowed to list.
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket=B)["Contents"]}
    assert listed[name]["Size"] == n and listed[name]["ETag"] == r["ETag"]

# A key sent for an object stored in the clear is refused; so is SSE-C plus SSE-S3.
s3.put_object(Bucket=B, Key="clear", Body=b"x" * 10)
fails(400, "InvalidArgument", s3.get_object, Bucket=B, Key="clear", **key_args(K1))
fails(400, "InvalidArgument", s3.put_object, Bucket=B, Key="both", Body=b"x",
      ServerSideEncryption="AES256", **key_args(K1))
bad_md5 = dict(key_args(K1), SSECustomerKeyMD5=base64.b64encode(b"\0" * 16).decode())
fails(400, "InvalidArgument", s3.put_object, Bucket=B, Key="bad-md5", Body=b"x", **bad_md5)
fails(501, "NotImplemented", s3.put_object, Bucket=B, Key="kms", Body=b"x",
      ServerSideEncryption="aws:kms")
for k in ("both", "bad-md5", "kms"):
    fails(404, "404", s3.head_object, Bucket=B, Key=k)

# --- SSE-C multipart: parts need the upload's key ----------------------------------------
parts = [body(5 * MIB, 3), body(5 * MIB + 1, 4), body(1234567, 5)]
up = s3.create_multipart_upload(Bucket=B, Key="c-mp", ChecksumAlgorithm="SHA256",
                                **key_args(K1))
assert up["SSECustomerAlgorithm"] == "AES256"
uid = up["UploadId"]
fails(400, "InvalidRequest", s3.upload_part, Bucket=B, Key="c-mp", UploadId=uid, PartNumber=1,
      Body=parts[0], ChecksumAlgorithm="SHA256")
# Another key than the upload's: 400, as S3 ("did not match the ones used originally").
fails(400, "InvalidArgument", s3.upload_part, Bucket=B, Key="c-mp", UploadId=uid, PartNumber=1,
      Body=parts[0], ChecksumAlgorithm="SHA256", **key_args(K2))
done = []
for i, p in enumerate(parts, 1):
    r = s3.upload_part(Bucket=B, Key="c-mp", UploadId=uid, PartNumber=i, Body=p,
                       ChecksumAlgorithm="SHA256", **key_args(K1))
    assert r["SSECustomerAlgorithm"] == "AES256"
    done.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
# Part checksums are digests of the plaintext: listed only to a caller with the key.
listed = s3.list_parts(Bucket=B, Key="c-mp", UploadId=uid)["Parts"]
assert len(listed) == 3 and all("ChecksumSHA256" not in p for p in listed), listed
listed = s3.list_parts(Bucket=B, Key="c-mp", UploadId=uid, **key_args(K1))["Parts"]
assert [p["ChecksumSHA256"] for p in listed] == [d["ChecksumSHA256"] for d in done]
fails(403, "AccessDenied", s3.list_parts, Bucket=B, Key="c-mp", UploadId=uid, **key_args(K2))
# With a checksum algorithm, completing needs the key (as S3); a retry of a completed
# upload without it shows no checksum.
fails(400, "InvalidRequest", s3.complete_multipart_upload, Bucket=B, Key="c-mp",
      UploadId=uid, MultipartUpload={"Parts": done})
r = s3.complete_multipart_upload(Bucket=B, Key="c-mp", UploadId=uid,
                                 MultipartUpload={"Parts": done}, **key_args(K1))
assert r["ChecksumSHA256"].endswith("-3"), r
# A retry answers no more without the key than the first attempt did.
fails(400, "InvalidRequest", s3.complete_multipart_upload, Bucket=B, Key="c-mp",
      UploadId=uid, MultipartUpload={"Parts": done})
# Without a checksum algorithm an SSE-C upload completes without the key, unless the
# request names part checksums (a mismatch would confirm a guessed plaintext digest).
up2 = s3.create_multipart_upload(Bucket=B, Key="c-mp2", **key_args(K1))["UploadId"]
r = s3.upload_part(Bucket=B, Key="c-mp2", UploadId=up2, PartNumber=1, Body=b"p" * 1000,
                   ChecksumAlgorithm="CRC32", **key_args(K1))
named = [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]}]
fails(400, "InvalidRequest", s3.complete_multipart_upload, Bucket=B, Key="c-mp2",
      UploadId=up2, MultipartUpload={"Parts": named})
s3.complete_multipart_upload(Bucket=B, Key="c-mp2", UploadId=up2,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
assert s3.get_object(Bucket=B, Key="c-mp2", **key_args(K1))["Body"].read() == b"p" * 1000
whole = b"".join(parts)
assert s3.get_object(Bucket=B, Key="c-mp", **key_args(K1))["Body"].read() == whole
edge = len(parts[0])
for a, b in ((edge - 10, edge + 10), (0, len(whole) - 1), (edge + PLAIN_BLOCK * 3 - 1, edge * 2 + 5)):
    got = s3.get_object(Bucket=B, Key="c-mp", Range=f"bytes={a}-{b}", **key_args(K1))["Body"].read()
    assert got == whole[a:b + 1], f"c-mp bytes={a}-{b}"
for i, p in enumerate(parts, 1):
    got = s3.get_object(Bucket=B, Key="c-mp", PartNumber=i, **key_args(K1))["Body"].read()
    assert got == p, f"c-mp part {i}"
fails(403, "AccessDenied", s3.get_object, Bucket=B, Key="c-mp", **key_args(K2))

# --- Copies: source key, destination key ------------------------------------------------
r = s3.copy_object(Bucket=B, Key="c-copy", CopySource={"Bucket": B, "Key": "c-big"},
                   **copy_key_args(K1), **key_args(K2))
assert r["SSECustomerKeyMD5"] == key_args(K2)["SSECustomerKeyMD5"]
big = s3.get_object(Bucket=B, Key="c-big", **key_args(K1))["Body"].read()
assert s3.get_object(Bucket=B, Key="c-copy", **key_args(K2))["Body"].read() == big
fails(403, "AccessDenied", s3.get_object, Bucket=B, Key="c-copy", **key_args(K1))
fails(400, "InvalidRequest", s3.copy_object, Bucket=B, Key="c-copy2",
      CopySource={"Bucket": B, "Key": "c-big"})
fails(403, "AccessDenied", s3.copy_object, Bucket=B, Key="c-copy2",
      CopySource={"Bucket": B, "Key": "c-big"}, **copy_key_args(K2))
# To SSE-S3 and to the clear; and an SSE-C object re-keyed in place.
r = s3.copy_object(Bucket=B, Key="s3-copy", CopySource={"Bucket": B, "Key": "c-mp"},
                   ServerSideEncryption="AES256", **copy_key_args(K1))
assert r["ServerSideEncryption"] == "AES256"
assert s3.get_object(Bucket=B, Key="s3-copy")["Body"].read() == whole
s3.copy_object(Bucket=B, Key="clear-copy", CopySource={"Bucket": B, "Key": "c-small"},
               **copy_key_args(K1))
assert s3.get_object(Bucket=B, Key="clear-copy")["Body"].read() == body(1000, 1)
s3.copy_object(Bucket=B, Key="c-small", CopySource={"Bucket": B, "Key": "c-small"},
               **copy_key_args(K1), **key_args(K2))
assert s3.get_object(Bucket=B, Key="c-small", **key_args(K2))["Body"].read() == body(1000, 1)
fails(403, "AccessDenied", s3.get_object, Bucket=B, Key="c-small", **key_args(K1))
# UploadPartCopy: SSE-C source into an SSE-C upload under another key.
up = s3.create_multipart_upload(Bucket=B, Key="c-pc", **key_args(K2))
r = s3.upload_part_copy(Bucket=B, Key="c-pc", UploadId=up["UploadId"], PartNumber=1,
                        CopySource={"Bucket": B, "Key": "c-mp"},
                        CopySourceRange=f"bytes=0-{5 * MIB - 1}",
                        **copy_key_args(K1), **key_args(K2))
p1 = r["CopyPartResult"]["ETag"]
r = s3.upload_part_copy(Bucket=B, Key="c-pc", UploadId=up["UploadId"], PartNumber=2,
                        CopySource={"Bucket": B, "Key": "c-small"},
                        **copy_key_args(K2), **key_args(K2))
s3.complete_multipart_upload(
    Bucket=B, Key="c-pc", UploadId=up["UploadId"],
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1},
                               {"PartNumber": 2, "ETag": r["CopyPartResult"]["ETag"]}]})
got = s3.get_object(Bucket=B, Key="c-pc", **key_args(K2))["Body"].read()
assert got == whole[:5 * MIB] + body(1000, 1)

# --- SSE-S3, explicit, and s3transfer on both kinds -------------------------------------
data = body(2 * MIB + 3, 6)
r = s3.put_object(Bucket=B, Key="s3-obj", Body=data, ServerSideEncryption="AES256")
assert r["ServerSideEncryption"] == "AES256"
assert r["ETag"].strip('"') == hashlib.md5(data).hexdigest(), "SSE-S3 ETag is the MD5"
g = s3.get_object(Bucket=B, Key="s3-obj")
assert g["ServerSideEncryption"] == "AES256" and g["Body"].read() == data
fails(400, "InvalidArgument", s3.get_object, Bucket=B, Key="s3-obj", **key_args(K1))
cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
with tempfile.TemporaryDirectory() as d:
    src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
    big = body(13 * MIB + 7, 7)
    with open(src, "wb") as f:
        f.write(big)
    for extra in ({"ServerSideEncryption": "AES256"}, key_args(K1)):
        s3.upload_file(src, B, "transfer", ExtraArgs=extra, Config=cfg)
        get_extra = {} if "ServerSideEncryption" in extra else extra
        s3.download_file(B, "transfer", dst, ExtraArgs=get_extra, Config=cfg)
        with open(dst, "rb") as f:
            assert f.read() == big, f"s3transfer {list(extra)}"

# --- Bucket default encryption ----------------------------------------------------------
D = "sse-boto3-default"
s3.create_bucket(Bucket=D)
fails(404, "ServerSideEncryptionConfigurationNotFoundError", s3.get_bucket_encryption, Bucket=D)
rule = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
s3.put_bucket_encryption(Bucket=D, ServerSideEncryptionConfiguration=rule)
got = s3.get_bucket_encryption(Bucket=D)["ServerSideEncryptionConfiguration"]["Rules"][0]
assert got["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}
fails(501, "NotImplemented", s3.put_bucket_encryption, Bucket=D,
      ServerSideEncryptionConfiguration=kms)
for name, n in (("d-small", 500), ("d-big", 3 * MIB)):
    r = s3.put_object(Bucket=D, Key=name, Body=body(n, 8))
    assert r["ServerSideEncryption"] == "AES256", name
    assert s3.head_object(Bucket=D, Key=name)["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=D, Key=name)["Body"].read() == body(n, 8)
# An SSE-C write into a bucket with a default keeps the client's key.
r = s3.put_object(Bucket=D, Key="d-c", Body=b"c" * 100, **key_args(K1))
assert "ServerSideEncryption" not in r and r["SSECustomerAlgorithm"] == "AES256"
up = s3.create_multipart_upload(Bucket=D, Key="d-mp")
assert up["ServerSideEncryption"] == "AES256"
s3.abort_multipart_upload(Bucket=D, Key="d-mp", UploadId=up["UploadId"])
r = s3.delete_bucket_encryption(Bucket=D)
assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
fails(404, "ServerSideEncryptionConfigurationNotFoundError", s3.get_bucket_encryption, Bucket=D)
r = s3.put_object(Bucket=D, Key="d-after", Body=b"a" * 10)
assert "ServerSideEncryption" not in r
assert s3.get_object(Bucket=D, Key="d-small")["Body"].read() == body(500, 8), "old stays"
print("ok")
