// AWS Signature Version 4 with WebCrypto (HMAC-SHA256, SHA-256), for the S3 requests
// the console makes and for presigned links.

const enc = new TextEncoder();

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function sha256Hex(data) {
  const bytes = typeof data === 'string' ? enc.encode(data) : data;
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

async function hmac(key, msg) {
  const k = await crypto.subtle.importKey('raw', typeof key === 'string' ? enc.encode(key) : key,
    {name: 'HMAC', hash: 'SHA-256'}, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, enc.encode(msg));
}

/** RFC 3986 encoding as SigV4 wants it (everything but A-Z a-z 0-9 - . _ ~). */
export function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Path encoding: each segment encoded, slashes kept. */
export function encodePath(path) {
  return path.split('/').map(uriEncode).join('/');
}

export function canonicalQuery(query) {
  return Object.keys(query).sort().map((k) => uriEncode(k) + '=' + uriEncode(String(query[k]))).join('&');
}

function amzDate(now) {
  const iso = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return {stamp: iso, day: iso.slice(0, 8)};
}

async function signingKey(secret, day, region) {
  let k = await hmac('AWS4' + secret, day);
  k = await hmac(k, region);
  k = await hmac(k, 's3');
  return hmac(k, 'aws4_request');
}

/**
 * Signs a request. `path` is the decoded S3 path (`/bucket/key`), `query` a plain
 * object, `headers` extra headers to sign (lowercase names). Returns the headers to send
 * (Authorization, x-amz-date, x-amz-content-sha256, x-amz-security-token, extras).
 */
export async function sign({method, host, path, query, headers, payloadHash, creds, region, now}) {
  const {stamp, day} = amzDate(now || new Date());
  const all = Object.assign({}, headers || {}, {
    host,
    'x-amz-date': stamp,
    'x-amz-content-sha256': payloadHash,
  });
  if (creds.token) all['x-amz-security-token'] = creds.token;
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = {};
  for (const [k, v] of Object.entries(all)) lower[k.toLowerCase()] = String(v).trim();
  const canonicalHeaders = names.map((n) => n + ':' + lower[n] + '\n').join('');
  const signedHeaders = names.join(';');
  const canonical = [method, encodePath(path), canonicalQuery(query || {}), canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, await sha256Hex(canonical)].join('\n');
  const signature = hex(await hmac(await signingKey(creds.secret, day, region), toSign));
  const out = {};
  for (const n of names) if (n !== 'host') out[n] = lower[n];
  out.authorization = `AWS4-HMAC-SHA256 Credential=${creds.id}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}

/** A presigned URL: `base` is scheme://host[:port] plus any path prefix the URL needs. */
export async function presign({method, base, host, path, creds, region, expires, now}) {
  const {stamp, day} = amzDate(now || new Date());
  const scope = `${day}/${region}/s3/aws4_request`;
  const query = {
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${creds.id}/${scope}`,
    'X-Amz-Date': stamp,
    'X-Amz-Expires': String(expires),
    'X-Amz-SignedHeaders': 'host',
  };
  if (creds.token) query['X-Amz-Security-Token'] = creds.token;
  const canonical = [method, encodePath(path), canonicalQuery(query), 'host:' + host + '\n', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, await sha256Hex(canonical)].join('\n');
  const signature = hex(await hmac(await signingKey(creds.secret, day, region), toSign));
  return base + encodePath(path) + '?' + canonicalQuery(query) + '&X-Amz-Signature=' + signature;
}
