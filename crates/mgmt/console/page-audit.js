// Audit viewer: reads the org's audit objects (gzip JSON Lines in cw-<orgId>-audit-logs,
// keys `control-plane/YYYY/MM/DD/HH/…` and `data-plane/YYYY/MM/DD/HH/<bucket>/…`) through
// S3 with the caller's own permissions, decompresses them in the browser and filters
// by time range, principal, bucket, action and result. Lines that are not events (no
// `action` or no `timestamp`, e.g. a chain header) are skipped.

import {h, replace, table, pill, guarded} from './dom.js';
import {listObjects, getObject} from './s3.js';

const PAGE = 50;
const MAX_DAYS = 31;

function pad(n) { return String(n).padStart(2, '0'); }
function dayPath(d) { return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/`; }
function localInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function* keysUnder(bucket, prefix) {
  let token = null;
  do {
    const page = await listObjects(bucket, {prefix, token, maxKeys: 1000, delimiter: false});
    for (const o of page.objects) yield o.key;
    token = page.next;
  } while (token);
}

/** The hour (UTC, ms) an audit key is filed under, or NaN. */
function keyHour(key) {
  const m = /^(?:control-plane|data-plane)\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\//.exec(key);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4]) : NaN;
}

async function readEvents(bucket, key) {
  const resp = await getObject(bucket, key);
  const stream = resp.body.pipeThrough(new DecompressionStream('gzip')).pipeThrough(new TextDecoderStream());
  let text = '';
  const reader = stream.getReader();
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    text += value;
  }
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let ev;
    try { ev = JSON.parse(line); } catch { continue; }
    if (!ev || typeof ev !== 'object' || typeof ev.action !== 'string' || typeof ev.timestamp !== 'string') continue;
    ev._stream = key.startsWith('data-plane/') ? 'data-plane' : 'control-plane';
    out.push(ev);
  }
  return out;
}

export async function auditPage(view, me) {
  const bucket = 'cw-' + me.orgId + '-audit-logs';
  const now = new Date();
  const from = h('input', {type: 'datetime-local', value: localInput(new Date(now.getTime() - 24 * 3600 * 1000)), 'data-testid': 'audit-from'});
  const to = h('input', {type: 'datetime-local', value: localInput(new Date(now.getTime() + 3600 * 1000)), 'data-testid': 'audit-to'});
  const stream = h('select', {'data-testid': 'audit-stream'}, h('option', {value: ''}, 'both'),
    h('option', {value: 'control-plane'}, 'control plane'), h('option', {value: 'data-plane'}, 'data plane'));
  const principal = h('input', {type: 'text', size: '18', placeholder: 'contains', 'data-testid': 'audit-principal'});
  const bucketF = h('input', {type: 'text', size: '14', placeholder: 'bucket', 'data-testid': 'audit-bucket'});
  const action = h('input', {type: 'text', size: '18', placeholder: 'e.g. CreateAccessKey', 'data-testid': 'audit-action'});
  const result = h('select', {'data-testid': 'audit-result'}, h('option', {value: ''}, 'any'),
    h('option', {value: 'allowed'}, 'allowed'), h('option', {value: 'denied'}, 'denied'), h('option', {value: 'error'}, 'error'));
  const status = h('div', {class: 'muted', 'data-testid': 'audit-status'});
  const out = h('div');
  const pager = h('div', {class: 'pager'});
  let events = [];
  let page = 0;

  const form = h('form', {class: 'inline', on: {submit: async (e) => {
    e.preventDefault();
    await query();
  }}}, h('label', null, 'From', from), h('label', null, 'To', to), h('label', null, 'Stream', stream),
  h('label', null, 'Principal', principal), h('label', null, 'Bucket', bucketF), h('label', null, 'Action', action),
  h('label', null, 'Result', result), h('button', {type: 'submit', class: 'primary', 'data-testid': 'audit-query'}, 'Query'));

  replace(view, h('h1', null, 'Audit'), h('p', {class: 'muted'}, 'Events from ', h('span', {class: 'mono'}, bucket),
    ' (delivered by the server every few seconds; times are UTC in the table).'), h('section', {class: 'card'}, form), status, out, pager);

  async function query() {
    replace(out);
    replace(pager);
    const start = new Date(from.value);
    const end = new Date(to.value);
    if (!(start <= end)) { replace(status, 'Choose a time range whose start is before its end.'); return; }
    const firstHour = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate(), start.getUTCHours());
    const days = [];
    for (let d = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate())); d <= end; d = new Date(d.getTime() + 86400000)) {
      days.push(dayPath(d));
      if (days.length > MAX_DAYS) { replace(status, 'Choose at most ' + MAX_DAYS + ' days.'); return; }
    }
    replace(status, 'Reading audit objects…');
    await guarded(out, async () => {
      const streams = stream.value ? [stream.value] : ['control-plane', 'data-plane'];
      const keys = [];
      for (const s of streams) {
        for (const d of days) {
          for await (const k of keysUnder(bucket, s + '/' + d)) {
            const hour = keyHour(k);
            if (!(hour >= firstHour && hour <= end.getTime())) continue;
            // data-plane/YYYY/MM/DD/HH/<bucket>/…: the bucket filter prunes whole objects.
            if (s === 'data-plane' && bucketF.value.trim() && k.split('/')[5] !== bucketF.value.trim()) continue;
            keys.push(k);
          }
        }
      }
      const all = [];
      for (const k of keys) all.push(...await readEvents(bucket, k));
      const p = principal.value.trim(), b = bucketF.value.trim(), a = action.value.trim().toLowerCase(), r = result.value;
      events = all.filter((ev) => {
        const t = Date.parse(ev.timestamp);
        if (!(t >= start.getTime() && t <= end.getTime())) return false;
        if (p && !String(ev.principal || '').includes(p)) return false;
        if (b && ev.bucketName !== b && ev.identifier !== b) return false;
        if (a && !ev.action.toLowerCase().includes(a)) return false;
        if (r && ev.result !== r) return false;
        return true;
      }).sort((x, y) => (x.timestamp < y.timestamp ? 1 : x.timestamp > y.timestamp ? -1 : 0));
      replace(status, events.length + ' events from ' + keys.length + ' audit objects.');
      page = 0;
      render();
    });
    if (out.querySelector('[data-testid=not-allowed]')) replace(status);
  }

  function render() {
    const slice = events.slice(page * PAGE, (page + 1) * PAGE);
    replace(out, slice.length ? table(['Time (UTC)', 'Stream', 'Action', 'Principal', 'Bucket / identifier', 'Key', 'Result', 'Source IP'],
      slice.map((ev) => ({attrs: {'data-action': ev.action}, cells: [
        ev.timestamp, ev._stream, ev.action, {cell: ev.principal || '', class: 'mono'},
        {cell: ev.bucketName || ev.identifier || '', class: 'mono'}, {cell: ev.key || '', class: 'mono'},
        pill(String(ev.result || '')), ev.sourceIp || '',
      ]})), {'data-testid': 'audit-table'}) : h('p', {class: 'muted'}, 'No events match.'));
    const pages = Math.max(1, Math.ceil(events.length / PAGE));
    replace(pager,
      h('button', {type: 'button', disabled: page === 0, on: {click: () => { page--; render(); }}}, '← Newer'),
      h('span', {class: 'muted'}, 'Page ' + (page + 1) + ' of ' + pages),
      h('button', {type: 'button', disabled: page + 1 >= pages, on: {click: () => { page++; render(); }}}, 'Older →'));
  }
}
