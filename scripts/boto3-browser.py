#!/usr/bin/env python3
"""What a browser does against Coffer, driven by boto3 + urllib (standard library only).

1. CORS: boto3 puts a CORS configuration; preflight OPTIONS requests as a browser sends
   them (Origin, Access-Control-Request-Method, Access-Control-Request-Headers, no
   credentials) are allowed or refused with 403 CORSResponse.
2. Presigned POST: boto3's generate_presigned_post builds the policy and SigV4 fields;
   urllib posts them as multipart/form-data with the file last, as an HTML form does.
   Checks success_action_status 201/204, success_action_redirect (303), ${filename},
   content-length-range (EntityTooLarge/EntityTooSmall), condition failures, fields not
   in the policy, a tampered signature, an expired policy, and a key without
   s3:PutObject (OTHER_KEY/OTHER_SECRET) — each refused upload stores nothing.

Usage: boto3-browser.py S3_ENDPOINT ACCESS_KEY SECRET OTHER_KEY OTHER_SECRET BUCKET
Exit status 0 and a final line "ok" on success; 2 when boto3 is not installed.
"""

import base64
import json
import sys
import urllib.error
import urllib.request
import uuid

try:
    import boto3
    from botocore.config import Config
except ImportError:
    print("boto3 is not installed", file=sys.stderr)
    sys.exit(2)

ORIGIN = "https://app.example.com"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def request(method, url, headers=None, body=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def form_post(url, fields, filename, content, origin=ORIGIN):
    """multipart/form-data with the fields in order and the file last (S3 requires it)."""
    boundary = "----coffer" + uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        )
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    body = b"".join(parts)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if origin:
        headers["Origin"] = origin
    return request("POST", url, headers, body)


def code_of(body):
    if "<Code>" not in body:
        return ""
    return body.split("<Code>", 1)[1].split("</Code>", 1)[0]


def main() -> int:
    endpoint, key, secret, other_key, other_secret, bucket = sys.argv[1:7]
    cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=cfg,
    )
    other = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=other_key,
        aws_secret_access_key=other_secret,
        region_name="us-east-1",
        config=cfg,
    )

    # ---- CORS -------------------------------------------------------------------
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [ORIGIN],
                    "AllowedMethods": ["GET", "PUT", "POST"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 300,
                }
            ]
        },
    )
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    check(got[0]["AllowedMethods"] == ["GET", "PUT", "POST"], f"cors rules {got}")
    url = f"{endpoint}/{bucket}/photos/a.jpg"
    status, headers, body = request(
        "OPTIONS",
        url,
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,x-amz-date,authorization",
        },
    )
    h = {k.lower(): v for k, v in headers.items()}
    check(status == 200, f"preflight {status} {body}")
    check(h.get("access-control-allow-origin") == ORIGIN, f"allow-origin {h}")
    check("PUT" in h.get("access-control-allow-methods", ""), f"allow-methods {h}")
    check(
        "authorization" in h.get("access-control-allow-headers", ""), f"allow-headers {h}"
    )
    check(h.get("access-control-max-age") == "300", f"max-age {h}")
    status, _, body = request(
        "OPTIONS",
        url,
        {"Origin": "https://evil.example.org", "Access-Control-Request-Method": "PUT"},
    )
    check(status == 403 and code_of(body) == "CORSResponse", f"refused preflight {status} {body}")
    status, _, body = request(
        "OPTIONS", url, {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"}
    )
    check(status == 403, f"DELETE preflight {status} {body}")

    # ---- presigned POST -----------------------------------------------------------
    post_url = f"{endpoint}/{bucket}"

    def presign(client=s3, key_name="uploads/${filename}", fields=None, conditions=None, expires=300):
        return client.generate_presigned_post(
            Bucket=bucket,
            Key=key_name,
            Fields=fields or {},
            Conditions=conditions or [],
            ExpiresIn=expires,
        )

    def exists(k):
        try:
            s3.head_object(Bucket=bucket, Key=k)
            return True
        except s3.exceptions.ClientError:
            return False

    # 201 with the PostResponse XML; ${filename} becomes the file's name.
    p = presign(
        fields={"success_action_status": "201", "Content-Type": "text/plain"},
        conditions=[
            {"success_action_status": "201"},
            ["starts-with", "$Content-Type", "text/"],
            ["content-length-range", 1, 1024],
        ],
    )
    status, headers, body = form_post(p["url"] if p["url"].startswith("http") else post_url, p["fields"], "notes.txt", b"hello from a form")
    check(status == 201, f"POST 201: {status} {body}")
    check("<Key>uploads/notes.txt</Key>" in body, f"PostResponse {body}")
    h = {k.lower(): v for k, v in headers.items()}
    check(h.get("access-control-allow-origin") == ORIGIN, f"CORS on POST response {h}")
    obj = s3.get_object(Bucket=bucket, Key="uploads/notes.txt")
    check(obj["Body"].read() == b"hello from a form", "stored bytes")
    check(obj["ContentType"] == "text/plain", f"content type {obj['ContentType']}")

    # Default 204, fixed key.
    p = presign(key_name="plain.txt")
    status, _, body = form_post(post_url, p["fields"], "ignored.txt", b"plain")
    check(status == 204, f"POST 204: {status} {body}")
    check(s3.get_object(Bucket=bucket, Key="plain.txt")["Body"].read() == b"plain", "plain")

    # 200 with an empty body.
    p = presign(key_name="ok200.txt", fields={"success_action_status": "200"}, conditions=[{"success_action_status": "200"}])
    status, _, body = form_post(post_url, p["fields"], "x.txt", b"200")
    check(status == 200 and body == "", f"POST 200: {status} {body}")

    # Redirect: 303 to the given URL with bucket, key and etag.
    p = presign(
        key_name="redirected.txt",
        fields={"success_action_redirect": "https://app.example.com/done"},
        conditions=[{"success_action_redirect": "https://app.example.com/done"}],
    )
    status, headers, body = form_post(post_url, p["fields"], "r.txt", b"redirect")
    h = {k.lower(): v for k, v in headers.items()}
    check(status == 303, f"POST redirect: {status} {body}")
    loc = h.get("location", "")
    check(loc.startswith("https://app.example.com/done?") and "key=redirected.txt" in loc, loc)

    # content-length-range.
    p = presign(key_name="sized.txt", conditions=[["content-length-range", 5, 10]])
    status, _, body = form_post(post_url, p["fields"], "s.txt", b"x" * 11)
    check(status == 400 and code_of(body) == "EntityTooLarge", f"too large {status} {body}")
    status, _, body = form_post(post_url, p["fields"], "s.txt", b"x" * 2)
    check(status == 400 and code_of(body) == "EntityTooSmall", f"too small {status} {body}")
    check(not exists("sized.txt"), "sized.txt stored")

    # A field value violating its condition.
    p = presign(
        key_name="typed.txt",
        fields={"Content-Type": "text/plain"},
        conditions=[["starts-with", "$Content-Type", "text/"]],
    )
    fields = dict(p["fields"])
    fields["Content-Type"] = "image/png"
    status, _, body = form_post(post_url, fields, "t.txt", b"typed")
    check(status == 403 and code_of(body) == "AccessDenied", f"condition {status} {body}")
    # A field the policy does not cover.
    fields = dict(p["fields"])
    fields["x-amz-meta-extra"] = "sneaky"
    status, _, body = form_post(post_url, fields, "t.txt", b"typed")
    check(status == 403 and code_of(body) == "AccessDenied", f"uncovered field {status} {body}")
    # A key outside the signed one.
    fields = dict(p["fields"])
    fields["key"] = "elsewhere.txt"
    status, _, body = form_post(post_url, fields, "t.txt", b"typed")
    check(status in (400, 403), f"other key {status} {body}")
    # A tampered signature.
    fields = dict(p["fields"])
    sig = fields["x-amz-signature"]
    fields["x-amz-signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    status, _, body = form_post(post_url, fields, "t.txt", b"typed")
    check(status == 403, f"bad signature {status} {body}")
    check(not exists("typed.txt") and not exists("elsewhere.txt"), "refused uploads stored")

    # An expired policy.
    p = presign(key_name="late.txt", expires=-60)
    status, _, body = form_post(post_url, p["fields"], "l.txt", b"late")
    check(status == 403 and code_of(body) == "AccessDenied", f"expired {status} {body}")
    check(not exists("late.txt"), "late.txt stored")

    # A policy whose expiration is not ISO 8601 with the T separator (str(datetime)).
    p = presign(key_name="when.txt")
    fields = dict(p["fields"])
    doc = json.loads(base64.b64decode(fields["policy"]))
    doc["expiration"] = doc["expiration"].replace("T", " ")
    fields["policy"] = base64.b64encode(json.dumps(doc).encode()).decode()
    status, _, body = form_post(post_url, fields, "w.txt", b"when")
    check(status == 400 and code_of(body) == "InvalidPolicyDocument", f"date format {status} {body}")
    # A form naming an access key and a policy but carrying no signature at all is
    # malformed (400); one with a SigV2 signature is refused as SigV2 (403).
    p = presign(key_name="unsigned.txt")
    fields = {k: v for k, v in p["fields"].items() if not k.lower().startswith("x-amz-")}
    fields["AWSAccessKeyId"] = "AKIDEXAMPLE"
    status, _, body = form_post(post_url, fields, "u.txt", b"unsigned")
    check(status == 400 and code_of(body) == "InvalidArgument", f"no signature {status} {body}")
    fields["signature"] = base64.b64encode(b"x" * 20).decode()
    status, _, body = form_post(post_url, fields, "u.txt", b"unsigned")
    check(status == 403 and code_of(body) == "AccessDenied", f"sigv2 form {status} {body}")
    check(not exists("when.txt") and not exists("unsigned.txt"), "refused uploads stored")

    # A key whose principal may not write the bucket.
    p = presign(client=other, key_name="other.txt")
    status, _, body = form_post(post_url, p["fields"], "o.txt", b"other")
    check(status == 403 and code_of(body) == "AccessDenied", f"no s3:PutObject {status} {body}")
    check(not exists("other.txt"), "other.txt stored")

    # A form without a file / garbage body.
    status, _, body = request(
        "POST",
        post_url,
        {"Content-Type": "multipart/form-data; boundary=xyz"},
        b"--xyz\r\nnot a form",
    )
    check(400 <= status < 500, f"malformed form {status} {body}")

    print("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
