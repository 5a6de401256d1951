// Access keys: list with status and expiry, create (the secret is shown once, in this
// page's DOM only, never stored), suspend/activate by principal, revoke.

import {api, qs} from './api.js';
import {h, replace, table, errorBox, okBox, pill, guarded, copyButton, confirmAction} from './dom.js';

const SHORT = {ACCESS_KEY_STATUS_ACTIVE: 'ACTIVE', ACCESS_KEY_STATUS_SUSPENDED: 'SUSPENDED', ACCESS_KEY_STATUS_DELETED: 'DELETED'};

export async function keysPage(view) {
  const msg = h('div');
  const secretSlot = h('div', {'data-testid': 'secret-slot'});
  const list = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const filter = h('select', {'aria-label': 'status filter', on: {change: () => load()}},
    h('option', {value: ''}, 'all'), h('option', {value: 'ACTIVE'}, 'active'), h('option', {value: 'SUSPENDED'}, 'suspended'));
  const duration = h('input', {type: 'number', min: '0', max: '43200', value: '0', 'data-testid': 'key-duration'});
  const attrs = h('input', {type: 'text', placeholder: 'name=ci, team=ml', size: '28', 'data-testid': 'key-attrs'});
  const form = h('form', {class: 'inline', on: {submit: async (e) => {
    e.preventDefault();
    replace(msg);
    const attributes = {};
    for (const pair of attrs.value.split(',').map((s) => s.trim()).filter(Boolean)) {
      const i = pair.indexOf('=');
      if (i < 1) { replace(msg, errorBox(new Error('attributes are name=value pairs separated by commas'))); return; }
      attributes[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
    }
    try {
      const k = await api('POST', '/v1/cwobject/access-key', {durationSeconds: Number(duration.value || 0), attributes});
      replace(secretSlot, h('div', {class: 'secret', 'data-testid': 'new-key'},
        h('strong', null, 'New access key — the secret is shown only now. Copy it before leaving this page.'),
        h('div', null, 'Access key id'), h('output', {'data-testid': 'new-key-id'}, k.accessKeyId),
        h('div', null, 'Secret key'), h('output', {'data-testid': 'new-key-secret'}, k.secretKey),
        h('div', {class: 'row'}, copyButton(k.secretKey, 'Copy secret', 'copy-secret'),
          h('button', {type: 'button', on: {click: () => replace(secretSlot)}}, 'Done, hide it')),
        h('div', {class: 'muted'}, 'Principal ', k.principalName, k.expiry ? ' · expires ' + k.expiry : ' · permanent')));
      attrs.value = '';
      await load();
    } catch (err) {
      replace(msg, errorBox(err));
    }
  }}}, h('label', null, 'Duration (seconds, 0 = permanent)', duration), h('label', null, 'Attributes', attrs),
  h('button', {type: 'submit', class: 'primary', 'data-testid': 'create-key'}, 'Create key'));

  replace(view, h('h1', null, 'Access keys'), h('section', {class: 'card'}, form), secretSlot, msg,
    h('div', {class: 'row'}, h('span', {class: 'muted'}, 'Show'), filter), list);

  async function act(fn, done) {
    replace(msg);
    try {
      await fn();
      msg.appendChild(okBox(done));
    } catch (err) {
      replace(msg, errorBox(err));
    }
    await load();
  }

  async function load() {
    await guarded(list, async () => {
      const r = await api('GET', '/v1/cwobject/access-key' + qs({limit: 1000, status: filter.value}));
      const keys = r.info || [];
      if (!keys.length) { replace(list, h('p', {class: 'muted'}, 'No access keys.')); return; }
      replace(list, table(['Access key', 'Principal', 'Status', 'Expiry', 'Attributes', ''], keys.map((k) => {
        const status = SHORT[k.status] || k.status;
        const attrText = Object.entries(k.attributes || {}).map(([a, v]) => a + '=' + v).join(', ');
        const setStatus = (s) => act(() => api('PUT', '/v1/cwobject/access-key-status', {principalName: k.principalName, status: s}),
          'Every key of ' + k.principalName + ' is now ' + s.toLowerCase() + '.');
        const actions = status === 'DELETED' ? '' : h('span', {class: 'row'},
          status === 'ACTIVE'
            ? h('button', {type: 'button', 'data-testid': 'suspend', title: 'suspends every key of this principal', on: {click: () => {
              if (confirmAction('Suspend every key of ' + k.principalName + '?')) setStatus('SUSPENDED');
            }}}, 'Suspend principal')
            : h('button', {type: 'button', 'data-testid': 'activate', on: {click: () => setStatus('ACTIVE')}}, 'Activate principal'),
          h('button', {type: 'button', class: 'danger', 'data-testid': 'revoke', on: {click: () => {
            if (confirmAction('Revoke ' + k.accessKeyId + '? This cannot be undone.')) {
              act(() => api('POST', '/v1/cwobject/revoke-access-key/access-key', {accessKey: k.accessKeyId}), 'Revoked ' + k.accessKeyId + '.');
            }
          }}}, 'Revoke'));
        return {attrs: {'data-key-id': k.accessKeyId}, cells: [
          {cell: k.accessKeyId, class: 'mono'}, {cell: k.principalName, class: 'mono'}, pill(status),
          k.expiry || 'never', attrText, actions]};
      }), {'data-testid': 'keys-table'}));
    });
  }
  await load();
}
