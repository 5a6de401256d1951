#!/usr/bin/env python3
"""What a signature covers, checked with the clients attackers and users hold: boto3
presigned URLs and POST policies replayed with `requests`, and boto3 itself.

1. Unsigned x-amz-* headers: a presigned PutObject URL (it signs only `host`) with an
   added `x-amz-copy-source` must not become a CopyObject of a private object; the same
   for x-amz-meta-*, tagging, directives, rename source, ACL, storage class, SSE. Each is
   refused 403 AccessDenied naming the header (HeadersNotSigned) and stores nothing.
   Header-signed requests get a header injected after signing (botocore's before-send
   hook): refused the same way. A presigned URL's unsigned x-amz-content-sha256 may only
   carry the body's digest (verified) or UNSIGNED-PAYLOAD, never a streaming mode.
2. One auth mechanism: a presigned URL with an Authorization header is refused.
3. Signing scopes: a URL presigned for the S3 listener (bucket `console`, key
   `s3/<bucket>/<key>`) replayed against the management listener's console mount
   (`/console/s3/<bucket>/<key>`, Host kept) must not read <bucket>/<key>; the mount's
   region is refused on the S3 listener; boto3 works through the mount in its region.
4. Form uploads (generate_presigned_post): a field the policy does not name, an x-amz-*
   HTTP header, a file outside content-length-range: refused, nothing stored.

Usage: security-boto3.py S3_ENDPOINT API_ENDPOINT ACCESS_KEY SECRET
Exit status 0 and a final line "ok" on success; 2 when boto3/requests are missing.
"""

import hashlib
import http.client
import sys
import urllib.parse
import uuid

try:
    import boto3
    import requests
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:
    print("boto3 or requests is not installed", file=sys.stderr)
    sys.exit(2)

S3, API, AK, SK = sys.argv[1:5]
MOUNT_REGION = "coffer-console"
failures = []


def check(cond, what):
    if cond:
        print(f"ok   {what}")
    else:
        print(f"FAIL {what}")
        failures.append(what)


def client(endpoint, region="US-EAST-04A"):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": 1}),
    )


def exists(c, bucket, key):
    try:
        c.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError:
        return False


def code(e):
    return e.response.get("Error", {}).get("Code")


s3 = client(S3)
suffix = uuid.uuid4().hex[:8]
private, uploads = f"private-{suffix}", f"uploads-{suffix}"
for b in (private, uploads):
    s3.create_bucket(Bucket=b)
PAYROLL = b"name,salary\nalice,100\n"
s3.put_object(Bucket=private, Key="payroll.csv", Body=PAYROLL)

# --- 1. Presigned URL + unsigned x-amz-* headers ------------------------------------
slot = s3.generate_presigned_url("put_object", Params={"Bucket": uploads, "Key": "slot.bin"},
                                 ExpiresIn=300)
r = requests.put(slot, data=b"", headers={"x-amz-copy-source": f"/{private}/payroll.csv"})
check(r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
      and "There were headers present in the request which were not signed" in r.text
      and "<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>" in r.text,
      f"presigned PUT + unsigned x-amz-copy-source refused ({r.status_code})")
check(not exists(s3, uploads, "slot.bin"), "the upload slot holds no copy of the payroll")
for name, value in [
    ("x-amz-meta-owner", "mallory"),
    ("x-amz-tagging", "a=b"),
    ("x-amz-metadata-directive", "REPLACE"),
    ("x-amz-tagging-directive", "REPLACE"),
    ("x-amz-rename-source", f"/{uploads}/other"),
    ("x-amz-copy-source-range", "bytes=0-1"),
    ("x-amz-acl", "public-read"),
    ("x-amz-storage-class", "STANDARD_IA"),
    ("x-amz-server-side-encryption", "AES256"),
    ("x-amz-security-token", "x"),
]:
    r = requests.put(slot, data=b"x", headers={name: value})
    check(r.status_code == 403 and f"<HeadersNotSigned>{name}</HeadersNotSigned>" in r.text,
          f"presigned PUT + unsigned {name} refused ({r.status_code})")
check(not exists(s3, uploads, "slot.bin"), "refused uploads stored nothing")

r = requests.put(slot, data=b"hello", headers={"Content-Type": "text/plain"})
check(r.status_code == 200, f"the presigned URL works as signed ({r.status_code})")
got = s3.get_object(Bucket=uploads, Key="slot.bin")
check(got["Body"].read() == b"hello" and not got.get("Metadata"), "it stored exactly the body")

get_url = s3.generate_presigned_url("get_object", Params={"Bucket": private, "Key": "payroll.csv"},
                                    ExpiresIn=300)
check(requests.get(get_url).content == PAYROLL, "presigned GET works")
r = requests.get(get_url, headers={"x-amz-checksum-mode": "ENABLED"})
check(r.status_code == 403 and "HeadersNotSigned" in r.text,
      f"presigned GET + unsigned header refused ({r.status_code})")

# The payload hash may travel unsigned with a presigned URL, but only as a digest.
def presigned_put(key):
    return s3.generate_presigned_url("put_object", Params={"Bucket": uploads, "Key": key},
                                     ExpiresIn=300)

body = b"abc"
r = requests.put(presigned_put("h1"), data=body,
                 headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
check(r.status_code == 200, f"presigned PUT with the body's digest ({r.status_code})")
r = requests.put(presigned_put("h2"), data=body,
                 headers={"x-amz-content-sha256": hashlib.sha256(b"abd").hexdigest()})
check(r.status_code == 400 and not exists(s3, uploads, "h2"),
      f"presigned PUT with another digest refused, nothing stored ({r.status_code})")
for mode in ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"):
    r = requests.put(presigned_put("h3"), data=b"3\r\nabc\r\n0\r\n\r\n",
                     headers={"x-amz-content-sha256": mode, "x-amz-decoded-content-length": "3"})
    check(r.status_code in (400, 403) and not exists(s3, uploads, "h3"),
          f"presigned PUT cannot switch to {mode} ({r.status_code})")

# Header-signed requests: a header added after signing.
for name, value in [("x-amz-copy-source", f"/{private}/payroll.csv"),
                    ("x-amz-meta-injected", "1"), ("x-amz-tagging", "k=v")]:
    c = client(S3)

    def inject(request, name=name, value=value, **_):
        request.headers[name] = value

    c.meta.events.register("before-send.s3.PutObject", inject)
    try:
        c.put_object(Bucket=uploads, Key="injected.bin", Body=b"")
        check(False, f"header-signed PUT + injected {name} refused")
    except ClientError as e:
        check(code(e) == "AccessDenied"
              and e.response["ResponseMetadata"]["HTTPStatusCode"] == 403,
              f"header-signed PUT + injected {name} refused ({code(e)})")
check(not exists(s3, uploads, "injected.bin"), "injected headers stored nothing")
# Signed, the same headers do what the signer asked.
s3.copy_object(Bucket=uploads, Key="copy.csv", CopySource={"Bucket": private, "Key": "payroll.csv"})
check(s3.get_object(Bucket=uploads, Key="copy.csv")["Body"].read() == PAYROLL,
      "a signed x-amz-copy-source copies")

# A presigned URL turned into header auth under a lenient algorithm word (s3s accepts any
# word): refused as malformed, never read as "no signature" by the gates.
# (A region s3s takes as is, so nothing but the gates stands between the request and s3s.)
slot2 = client(S3, "us-east-1").generate_presigned_url(
    "put_object", Params={"Bucket": uploads, "Key": "slot2.bin"}, ExpiresIn=300)
parts = urllib.parse.urlsplit(slot2)
fields = dict(urllib.parse.parse_qsl(parts.query))
sig = fields.pop("X-Amz-Signature")
bare = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(fields)))
for alg in ("aws4-hmac-sha256", "AWS4-HMAC-SHA256X", "AWS4-HMAC-SHA256"):
    r = requests.put(bare, data=b"", headers={
        "Authorization": f"{alg} Credential={fields['X-Amz-Credential']}, SignedHeaders=host, "
                         f"Signature={sig}",
        "x-amz-date": fields["X-Amz-Date"], "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "x-amz-copy-source": f"/{private}/payroll.csv"})
    want = 403 if alg == "AWS4-HMAC-SHA256" else 400
    check(r.status_code == want and not exists(s3, uploads, "slot2.bin"),
          f"a presigned URL as header auth ({alg}) cannot copy ({r.status_code})")

# --- 2. One auth mechanism --------------------------------------------------------------
r = requests.get(get_url, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x/20250101/"
                                   "us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"})
check(r.status_code == 400 and "PAYROLL" not in r.text,
      f"presigned URL + Authorization header refused ({r.status_code})")

# --- 3. Signing scopes: the console mount ------------------------------------------------
s3.create_bucket(Bucket="console")
s3_host = S3.split("://", 1)[1]
for method in ("get_object", "head_object"):
    url = s3.generate_presigned_url(method, Params={"Bucket": "console",
                                                    "Key": f"s3/{private}/payroll.csv"},
                                    ExpiresIn=300)
    replay = url.replace(S3, API)
    check(f"/console/s3/{private}/payroll.csv?" in replay, "the replayed path is the mount's")
    verb = requests.get if method == "get_object" else requests.head
    r = verb(replay, headers={"Host": s3_host})
    check(r.status_code == 400 and PAYROLL not in r.content,
          f"an S3-listener {method} URL does not read through the mount ({r.status_code})")
try:
    client(S3, MOUNT_REGION).list_objects_v2(Bucket=private)
    check(False, "the mount's region is refused on the S3 listener")
except ClientError as e:
    check(code(e) == "AuthorizationHeaderMalformed",
          f"the mount's region is refused on the S3 listener ({code(e)})")
s3.put_object(Bucket="console", Key=f"s3/{private}/payroll.csv", Body=b"OTHER OBJECT")
mounted = client(API + "/console/s3/", MOUNT_REGION)
check(mounted.get_object(Bucket=private, Key="payroll.csv")["Body"].read() == PAYROLL,
      "boto3 works through the mount in the mount's region")
url = mounted.generate_presigned_url("get_object", Params={"Bucket": private, "Key": "payroll.csv"},
                                     ExpiresIn=300)
check(requests.get(url).content == PAYROLL, "a URL presigned for the mount works there")
# The same link with its signature parameter's name percent-encoded (s3s decodes it, so
# it is still presigned), one mount prefix deeper: the stripped path is the signed one,
# but it means bucket `console` on the S3 service. Sent raw (requests would re-encode).
api_host = API.split("://", 1)[1]
raw = url.split(api_host, 1)[1].replace("/console/s3/", "/console/s3/console/s3/", 1)
raw = raw.replace("X-Amz-Signature=", "X-Amz-Signatur%65=")
conn = http.client.HTTPConnection(api_host)
conn.request("GET", raw)
resp = conn.getresponse()
body = resp.read()
check(resp.status == 403 and b"OTHER OBJECT" not in body,
      f"an encoded mount link cannot be verified over another path ({resp.status})")
r = requests.get(url.replace(API + "/console/s3", S3), headers={"Host": API.split("://", 1)[1]})
check(r.status_code == 400 and PAYROLL not in r.content,
      f"a mount URL does not work on the S3 listener ({r.status_code})")

# --- 4. Form uploads -------------------------------------------------------------------
post = s3.generate_presigned_post(
    uploads, "form/${filename}",
    Fields={"x-amz-meta-note": "n"},
    Conditions=[{"x-amz-meta-note": "n"}, ["content-length-range", 1, 100]],
    ExpiresIn=300)
r = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"hi")})
got = s3.get_object(Bucket=uploads, Key="form/a.txt")
check(r.status_code == 204 and got["Body"].read() == b"hi"
      and got["Metadata"] == {"note": "n"}, f"a form upload as signed ({r.status_code})")
fields = dict(post["fields"], **{"x-amz-meta-evil": "x"})
r = requests.post(post["url"], data=fields, files={"file": ("b.txt", b"hi")})
check(r.status_code == 403 and not exists(s3, uploads, "form/b.txt"),
      f"a field the policy does not name is refused ({r.status_code})")
r = requests.post(post["url"], data=post["fields"], files={"file": ("c.txt", b"hi")},
                  headers={"x-amz-meta-evil": "x"})
check(r.status_code == 403 and "<HeadersNotSigned>x-amz-meta-evil</HeadersNotSigned>" in r.text
      and not exists(s3, uploads, "form/c.txt"), f"an x-amz-* header on a form is refused ({r.status_code})")
r = requests.post(post["url"], data=post["fields"], files={"file": ("d.txt", b"x" * 101)})
check(r.status_code == 400 and "EntityTooLarge" in r.text and not exists(s3, uploads, "form/d.txt"),
      f"a file over the range is refused while it streams ({r.status_code})")
fields = dict(post["fields"], **{"x-amz-signature": "0" * 64})
r = requests.post(post["url"], data=fields, files={"file": ("e.txt", b"hi")})
check(r.status_code == 403 and "SignatureDoesNotMatch" in r.text
      and not exists(s3, uploads, "form/e.txt"), f"a tampered form signature ({r.status_code})")
r = requests.post(post["url"], files={"file": ("f.txt", b"hi")}, data={"key": "form/f.txt"})
check(r.status_code == 403 and not exists(s3, uploads, "form/f.txt"),
      f"an anonymous form upload needs a bucket policy ({r.status_code})")

check(s3.get_object(Bucket=private, Key="payroll.csv")["Body"].read() == PAYROLL,
      "the payroll is untouched")
if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("ok")
