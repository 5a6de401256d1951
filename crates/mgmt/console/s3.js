// S3 through the same-origin mount (`/console/s3/...`), signed in the browser with a
// 15-minute key minted for the signed-in user from the API token. Requests are signed
// for exactly the URL they go to (this host, `/console/s3/bucket/key`) and for the
// mount's own region (`cfg.mountRegion`, which the S3 listener refuses, so a signature
// is never valid on both); the server verifies that signature, strips the prefix and
// hands the request to its S3 service. Links to the S3 listener use `cfg.region`.

import {api, consoleConfig} from './api.js';
import {sign, presign, sha256Hex, EMPTY_SHA256, encodePath, canonicalQuery} from './sigv4.js';

export class S3Error extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let creds = null;

/** The temporary key; renewed a minute before it expires. */
export async function credentials() {
  if (creds && creds.expires - Date.now() > 60_000) return creds;
  const c = await api('GET', '/v1/cwobject/temporary-credentials/api-token');
  creds = {id: c.AccessKeyId, secret: c.SecretAccessKey, token: c.Token, expires: Date.parse(c.Expiration)};
  return creds;
}

export function forgetCredentials() { creds = null; }

/** `/bucket/key` (decoded). */
export function s3Path(bucket, key) {
  let p = '/';
  if (bucket) p += bucket;
  if (key !== undefined && key !== null) p += '/' + key;
  return p;
}

/** Signed headers + URL for a request through the mount. */
export async function signed(method, bucket, key, query, payloadHash, extraHeaders) {
  const cfg = await consoleConfig();
  const c = await credentials();
  const path = cfg.s3Mount + s3Path(bucket, key);
  const headers = await sign({
    method, host: location.host, path, query: query || {}, headers: extraHeaders || {},
    payloadHash: payloadHash || EMPTY_SHA256, creds: c, region: cfg.mountRegion,
  });
  const q = canonicalQuery(query || {});
  const url = encodePath(path) + (q ? '?' + q : '');
  return {url, headers};
}

function xmlText(doc, tag) {
  const el = doc.getElementsByTagName(tag)[0];
  return el ? el.textContent : '';
}

export function parseXml(text) {
  return new DOMParser().parseFromString(text, 'application/xml');
}

/** Turns a non-2xx S3 response into an S3Error (403 → "Not allowed" in the UI). */
export function s3Failure(status, text) {
  let code = '', message = '';
  if (text) {
    const doc = parseXml(text);
    code = xmlText(doc, 'Code');
    message = xmlText(doc, 'Message');
  }
  return new S3Error(status, code, (code ? code + ': ' : '') + (message || 'HTTP ' + status));
}

/** One S3 request; resolves to the Response (ok) or throws S3Error. */
export async function s3(method, bucket, key, {query, body, headers, raw} = {}) {
  let payloadHash = EMPTY_SHA256;
  if (body !== undefined) {
    const buf = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    payloadHash = await sha256Hex(buf);
    body = buf;
  }
  const s = await signed(method, bucket, key, query, payloadHash, headers);
  const resp = await fetch(s.url, {method, headers: s.headers, body, credentials: 'omit', cache: 'no-store'});
  if (!resp.ok) throw s3Failure(resp.status, await resp.text());
  if (raw) return resp;
  return resp;
}

export async function s3Xml(method, bucket, key, opts) {
  const r = await s3(method, bucket, key, opts);
  return parseXml(await r.text());
}

export async function createBucket(name) {
  await s3('PUT', name, undefined, {});
}

export async function deleteBucket(name) {
  await s3('DELETE', name, undefined, {});
}

export async function deleteObject(bucket, key) {
  await s3('DELETE', bucket, key, {});
}

/** ListObjectsV2 with a delimiter: {folders, objects, next}. */
export async function listObjects(bucket, {prefix, token, maxKeys, delimiter}) {
  const query = {'list-type': '2', 'max-keys': String(maxKeys || 100)};
  if (delimiter !== false) query.delimiter = '/';
  if (prefix) query.prefix = prefix;
  if (token) query['continuation-token'] = token;
  const doc = await s3Xml('GET', bucket, undefined, {query});
  const folders = Array.from(doc.getElementsByTagName('CommonPrefixes'), (p) => xmlText(p, 'Prefix'));
  const objects = Array.from(doc.getElementsByTagName('Contents'), (c) => ({
    key: xmlText(c, 'Key'),
    size: Number(xmlText(c, 'Size') || 0),
    lastModified: xmlText(c, 'LastModified'),
    etag: xmlText(c, 'ETag'),
  }));
  const truncated = xmlText(doc, 'IsTruncated') === 'true';
  return {folders, objects, next: truncated ? xmlText(doc, 'NextContinuationToken') : null};
}

/** Every key under `prefix` (no delimiter), following continuation tokens. */
export async function listAll(bucket, prefix) {
  const out = [];
  let token = null;
  do {
    const page = await listObjects(bucket, {prefix, token, maxKeys: 1000, delimiter: false});
    out.push(...page.objects);
    token = page.next;
  } while (token);
  return out;
}

export async function getObject(bucket, key) {
  return s3('GET', bucket, key, {});
}

/**
 * A presigned GET. `external` = for the S3 listener's public URL when the server knows
 * it (a link to share); otherwise same-origin through the mount (downloads).
 */
export async function presignedGet(bucket, key, external, expires) {
  const cfg = await consoleConfig();
  const c = await credentials();
  const secondsLeft = Math.max(60, Math.floor((c.expires - Date.now()) / 1000));
  const exp = Math.min(expires || 900, secondsLeft);
  const path = s3Path(bucket, key);
  if (external && cfg.s3Endpoint) {
    const u = new URL(cfg.s3Endpoint);
    return presign({method: 'GET', base: u.origin, host: u.host, path, creds: c, region: cfg.region, expires: exp});
  }
  return presign({method: 'GET', base: location.origin, host: location.host, path: cfg.s3Mount + path, creds: c, region: cfg.mountRegion, expires: exp});
}
