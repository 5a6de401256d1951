// Uploads with progress: one PUT for small files, multipart (8 MiB parts) for large
// ones. A multipart upload is remembered in localStorage (bucket, key, file identity,
// uploadId; no credentials) so that choosing the same file again after a page reload
// resumes it: the parts the server already has (ListParts) are skipped.

import {signed, s3Failure, s3Xml, parseXml} from './s3.js';
import {sha256Hex} from './sigv4.js';

export const PART_SIZE = 8 * 1024 * 1024;

function resumeKey(bucket, key, file) {
  return `coffer.upload:${bucket}:${key}:${file.name}:${file.size}:${file.lastModified}`;
}

/** PUT `body` with XHR so that upload progress is observable. Resolves to the ETag. */
async function putWithProgress(bucket, key, query, body, onBytes) {
  const hash = await sha256Hex(await body.arrayBuffer());
  const s = await signed('PUT', bucket, key, query, hash, {});
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', s.url);
    for (const [k, v] of Object.entries(s.headers)) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener('progress', (e) => onBytes(e.loaded));
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onBytes(body.size);
        resolve(xhr.getResponseHeader('ETag') || '');
      } else {
        reject(s3Failure(xhr.status, xhr.responseText));
      }
    });
    xhr.addEventListener('error', () => reject(new Error('network error during upload')));
    xhr.send(body);
  });
}

async function listParts(bucket, key, uploadId) {
  const done = new Map();
  let marker = null;
  for (;;) {
    const query = {uploadId};
    if (marker) query['part-number-marker'] = marker;
    const doc = await s3Xml('GET', bucket, key, {query});
    for (const p of doc.getElementsByTagName('Part')) {
      const n = Number(p.getElementsByTagName('PartNumber')[0].textContent);
      const etag = p.getElementsByTagName('ETag')[0].textContent;
      const size = Number(p.getElementsByTagName('Size')[0].textContent);
      done.set(n, {etag, size});
    }
    const truncated = doc.getElementsByTagName('IsTruncated')[0];
    if (!truncated || truncated.textContent !== 'true') break;
    marker = doc.getElementsByTagName('NextPartNumberMarker')[0].textContent;
  }
  return done;
}

function xmlEscape(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Uploads `file` to bucket/key. `progress(sent, total, note)` is called as bytes go out.
 * Resolves to {resumed: number of parts skipped}.
 */
export async function upload(bucket, key, file, progress) {
  const total = file.size;
  if (total <= PART_SIZE) {
    await putWithProgress(bucket, key, {}, file, (n) => progress(n, total));
    return {resumed: 0};
  }
  const rk = resumeKey(bucket, key, file);
  let uploadId = localStorage.getItem(rk);
  let done = new Map();
  if (uploadId) {
    try {
      done = await listParts(bucket, key, uploadId);
    } catch {
      // The upload is gone (completed, aborted or expired): start over.
      uploadId = null;
      done = new Map();
    }
  }
  if (!uploadId) {
    const doc = await s3Xml('POST', bucket, key, {query: {uploads: ''}});
    uploadId = doc.getElementsByTagName('UploadId')[0].textContent;
    localStorage.setItem(rk, uploadId);
  }
  const count = Math.ceil(total / PART_SIZE);
  const etags = [];
  let base = 0;
  let resumed = 0;
  for (let n = 1; n <= count; n++) {
    const start = (n - 1) * PART_SIZE;
    const part = file.slice(start, Math.min(total, start + PART_SIZE));
    const have = done.get(n);
    if (have && have.size === part.size) {
      etags.push(have.etag);
      resumed++;
    } else {
      etags.push(await putWithProgress(bucket, key, {partNumber: String(n), uploadId}, part,
        (sent) => progress(base + sent, total)));
    }
    base += part.size;
    progress(base, total);
  }
  const body = '<CompleteMultipartUpload>' + etags.map((e, i) =>
    `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(e)}</ETag></Part>`).join('') +
    '</CompleteMultipartUpload>';
  const doc = await s3Xml('POST', bucket, key, {query: {uploadId}, body});
  // CompleteMultipartUpload may answer 200 with an <Error> body.
  if (doc.getElementsByTagName('Error').length) {
    throw s3Failure(500, new XMLSerializer().serializeToString(doc));
  }
  localStorage.removeItem(rk);
  return {resumed};
}

export {parseXml};
