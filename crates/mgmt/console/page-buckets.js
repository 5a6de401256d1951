// Buckets: list with location and usage (plus a bar per bucket), the settings toggles,
// bucket creation; the object browser with prefix navigation, pagination, upload with
// progress, download, delete and presigned links.

import {api, qs, consoleConfig} from './api.js';
import {h, replace, table, errorBox, okBox, bytes, guarded, copyButton, confirmAction} from './dom.js';
import {createBucket, deleteBucket, listObjects, deleteObject, presignedGet} from './s3.js';
import {upload} from './upload.js';

function usage(info, type) {
  const u = (info.usage || []).find((x) => x.measurementType === type);
  return u ? Number(u.value) : 0;
}

export async function bucketsPage(view) {
  const msg = h('div');
  const list = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const nameInput = h('input', {type: 'text', name: 'bucket', 'data-testid': 'new-bucket', placeholder: 'bucket-name', required: true});
  const create = h('form', {class: 'inline', on: {submit: async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name) return;
    replace(msg);
    try {
      await createBucket(name);
      msg.appendChild(okBox('Bucket ' + name + ' created.'));
      nameInput.value = '';
      await load();
    } catch (err) {
      replace(msg, errorBox(err));
    }
  }}}, h('label', null, 'New bucket', nameInput), h('button', {type: 'submit', class: 'primary', 'data-testid': 'create-bucket'}, 'Create bucket'));

  replace(view, h('h1', null, 'Buckets'), h('section', {class: 'card'}, create, msg), list);

  async function load() {
    await guarded(list, async () => {
      const r = await api('GET', '/v1/cwobject/bucket-info' + qs({limit: 1000}));
      const infos = r.info || [];
      const max = Math.max(1, ...infos.map((i) => usage(i, 'STORAGE_BYTES')));
      if (!infos.length) {
        replace(list, h('p', {class: 'muted'}, 'No buckets yet.'));
        return;
      }
      replace(list, table(['Bucket', 'Location', 'Created', 'Objects', 'Size', 'Share of storage', 'Audit logging', 'Capacity cap', ''],
        infos.map((info) => bucketRow(info, max, msg, load)), {'data-testid': 'buckets-table'}));
    });
  }
  await load();
}

function bucketRow(info, max, msg, reload) {
  const size = usage(info, 'STORAGE_BYTES');
  const settings = info.settings || {};
  const setSettings = async (s) => {
    replace(msg);
    try {
      await api('PUT', '/v1/cwobject/bucket/settings', {bucketName: info.name, settings: s});
      msg.appendChild(okBox('Settings of ' + info.name + ' saved.'));
    } catch (err) {
      replace(msg, errorBox(err));
    }
    await reload();
  };
  const audit = h('input', {type: 'checkbox', checked: !!settings.auditLoggingEnabled, 'aria-label': 'audit logging',
    'data-testid': 'audit-toggle', on: {change: (e) => setSettings({auditLoggingEnabled: e.target.checked})}});
  const capValue = settings.capacityCapBytes ? Number(settings.capacityCapBytes) : '';
  const cap = h('input', {type: 'number', min: '1', step: '1', value: capValue === '' ? '' : String(capValue / (1024 * 1024 * 1024)),
    'aria-label': 'capacity cap in GiB', class: 'cap'});
  const capForm = h('form', {class: 'row', on: {submit: (e) => {
    e.preventDefault();
    const gib = Number(cap.value);
    if (!cap.value) setSettings({clearCapacityCap: {}});
    else if (gib > 0) setSettings({capacityCapBytes: String(Math.round(gib * 1024 * 1024 * 1024))});
  }}}, cap, h('span', {class: 'muted'}, 'GiB'), h('button', {type: 'submit'}, 'Set'));
  const del = h('button', {type: 'button', class: 'danger', on: {click: async () => {
    if (!confirmAction('Delete bucket "' + info.name + '"? It must be empty.')) return;
    replace(msg);
    try {
      await deleteBucket(info.name);
      msg.appendChild(okBox('Bucket ' + info.name + ' deleted.'));
    } catch (err) {
      replace(msg, errorBox(err));
    }
    await reload();
  }}}, 'Delete');
  return {attrs: {'data-bucket': info.name}, cells: [
    h('a', {href: '#/bucket/' + encodeURIComponent(info.name) + '/', 'data-testid': 'bucket-link'}, info.name),
    info.location || '',
    (info.creationTime || '').replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    {cell: String(usage(info, 'OBJECT_COUNT')), class: 'num'},
    {cell: bytes(size), class: 'num'},
    h('meter', {min: '0', max: String(max), value: String(size), title: bytes(size)}),
    audit,
    capForm,
    del,
  ]};
}

function crumbs(bucket, prefix) {
  const out = [h('a', {href: '#/buckets'}, 'Buckets'), h('span', {class: 'sep'}, '/'),
    h('a', {href: '#/bucket/' + encodeURIComponent(bucket) + '/'}, bucket)];
  let acc = '';
  for (const part of prefix.split('/').filter(Boolean)) {
    acc += part + '/';
    out.push(h('span', {class: 'sep'}, '/'), h('a', {href: '#/bucket/' + encodeURIComponent(bucket) + '/' + encodeURIComponent(acc)}, part));
  }
  return h('div', {class: 'crumbs', 'data-testid': 'crumbs'}, out);
}

export async function objectsPage(view, bucket, prefix) {
  const cfg = await consoleConfig();
  const msg = h('div', {'data-testid': 'objects-msg'});
  const listing = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const pager = h('div', {class: 'pager'});
  const linkOut = h('div');
  const tokens = [null];
  let page = 0;

  // Upload
  const file = h('input', {type: 'file', 'data-testid': 'upload-file'});
  const keyInput = h('input', {type: 'text', placeholder: 'object key (default: file name)', 'data-testid': 'upload-key', size: '40'});
  const bar = h('progress', {max: '100', value: '0', 'data-testid': 'upload-progress'});
  const pct = h('span', {'data-testid': 'upload-percent'}, '');
  const uploadForm = h('form', {class: 'inline', on: {submit: async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) return;
    const key = prefix + (keyInput.value.trim() || f.name);
    replace(msg);
    bar.value = 0;
    replace(pct, '0%');
    try {
      const r = await upload(bucket, key, f, (sent, total) => {
        const p = total ? Math.floor((sent / total) * 100) : 100;
        bar.value = p;
        replace(pct, p + '%');
      });
      bar.value = 100;
      replace(pct, '100%');
      msg.appendChild(okBox('Uploaded ' + key + ' (' + bytes(f.size) + ')' + (r.resumed ? ', resumed after ' + r.resumed + ' parts' : '') + '.'));
      keyInput.value = '';
      await load();
    } catch (err) {
      replace(msg, errorBox(err));
    }
  }}}, h('label', null, 'File', file), h('label', null, 'Key', keyInput),
  h('button', {type: 'submit', class: 'primary', 'data-testid': 'upload'}, 'Upload'), bar, pct);

  replace(view, h('h1', null, 'Objects'), crumbs(bucket, prefix),
    h('section', {class: 'card'}, uploadForm,
      h('p', {class: 'muted'}, 'Files over 8 MiB go up in 8 MiB parts; choosing the same file again after a reload resumes an interrupted upload.')),
    msg, linkOut, listing, pager);

  async function load() {
    await guarded(listing, async () => {
      const r = await listObjects(bucket, {prefix, token: tokens[page], maxKeys: 50});
      if (r.next) tokens[page + 1] = r.next;
      const rows = [];
      for (const f of r.folders) {
        rows.push({attrs: {'data-folder': f}, cells: [
          h('a', {href: '#/bucket/' + encodeURIComponent(bucket) + '/' + encodeURIComponent(f), 'data-testid': 'folder-link'}, f.slice(prefix.length)),
          '', '', ''] });
      }
      for (const o of r.objects) rows.push(objectRow(bucket, o, prefix, cfg, msg, linkOut, load));
      replace(listing, rows.length ? table(['Key', 'Size', 'Last modified', ''], rows, {'data-testid': 'objects-table'})
        : h('p', {class: 'muted'}, 'No objects under this prefix.'));
      replace(pager,
        h('button', {type: 'button', disabled: page === 0, on: {click: () => { page--; load(); }}}, '← Previous'),
        h('span', {class: 'muted'}, 'Page ' + (page + 1)),
        h('button', {type: 'button', disabled: !r.next, 'data-testid': 'next-page', on: {click: () => { page++; load(); }}}, 'Next →'));
    });
  }
  await load();
}

function objectRow(bucket, o, prefix, cfg, msg, linkOut, reload) {
  const name = o.key.slice(prefix.length);
  const download = h('button', {type: 'button', 'data-testid': 'download', on: {click: async () => {
    try {
      const url = await presignedGet(bucket, o.key, false, 300);
      const a = h('a', {href: url, download: name.split('/').pop() || 'download'});
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (err) {
      replace(msg, errorBox(err));
    }
  }}}, 'Download');
  const link = h('button', {type: 'button', 'data-testid': 'presign', on: {click: async () => {
    try {
      const url = await presignedGet(bucket, o.key, true, 900);
      const out = h('input', {type: 'text', readonly: true, value: url, size: '90', class: 'mono', 'data-testid': 'presigned-url'});
      replace(linkOut, h('div', {class: 'msg ok'}, 'Presigned link for ', h('span', {class: 'mono'}, o.key),
        ' (valid while the console\'s temporary key lives, at most 15 minutes', cfg.s3Endpoint ? '' : '; served through the console', '):',
        h('div', {class: 'row'}, out, copyButton(url, 'Copy link', 'copy-link'))));
      out.select();
    } catch (err) {
      replace(msg, errorBox(err));
    }
  }}}, 'Copy link');
  const del = h('button', {type: 'button', class: 'danger', 'data-testid': 'delete-object', on: {click: async () => {
    if (!confirmAction('Delete "' + o.key + '"?')) return;
    try {
      await deleteObject(bucket, o.key);
      replace(msg, okBox('Deleted ' + o.key + '.'));
      await reload();
    } catch (err) {
      replace(msg, errorBox(err));
    }
  }}}, 'Delete');
  return {attrs: {'data-key': o.key}, cells: [
    {cell: name, class: 'mono key'},
    {cell: bytes(o.size), class: 'num'},
    o.lastModified,
    h('span', {class: 'row'}, download, link, del),
  ]};
}
