// The management API client: the API token lives in sessionStorage (per tab, gone when
// the tab closes) and travels only in the Authorization header, never in a URL.

const TOKEN_KEY = 'coffer.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Calls the management API; resolves to the JSON body, throws ApiError otherwise. */
export async function api(method, path, body) {
  const headers = {Authorization: 'Bearer ' + (token() || '')};
  const init = {method, headers, credentials: 'omit', cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'Unavailable', 'the server did not answer: ' + e.message);
  }
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : {}; } catch { json = null; }
  if (!resp.ok) {
    const message = (json && json.message) || text || resp.statusText;
    throw new ApiError(resp.status, json && json.code, message);
  }
  return json === null ? {} : json;
}

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

let me = null;
export async function whoami(refresh) {
  if (!me || refresh) me = await api('GET', '/v1/iam/whoami');
  return me;
}
export function forgetWhoami() { me = null; }

let config = null;
export async function consoleConfig() {
  if (!config) {
    const r = await fetch('/console/config.json', {cache: 'no-store'});
    config = await r.json();
  }
  return config;
}
