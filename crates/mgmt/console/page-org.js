// Organization settings; users and API tokens (org admins); federation configs (org
// admins). Members get the server's PermissionDenied shown as "Not allowed".

import {api, qs} from './api.js';
import {h, replace, table, errorBox, okBox, pill, guarded, copyButton, confirmAction} from './dom.js';

export async function orgPage(view, me) {
  const msg = h('div');
  const body = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  replace(view, h('h1', null, 'Organization'), h('p', {class: 'muted'}, 'Org ', me.orgId || '—'), msg, body);
  await guarded(body, async () => {
    const r = await api('GET', '/v1/cwobject/organization/settings');
    const s = r.settings || {};
    const toggle = (field, label) => {
      const box = h('input', {type: 'checkbox', checked: !!s[field], id: field, 'data-testid': field, on: {change: async (e) => {
        replace(msg);
        try {
          await api('PUT', '/v1/cwobject/organization/settings', {settings: {[field]: e.target.checked}});
          msg.appendChild(okBox('Saved.'));
        } catch (err) {
          e.target.checked = !e.target.checked;
          replace(msg, errorBox(err));
        }
      }}});
      return h('div', {class: 'row'}, box, h('label', {for: field}, label));
    };
    replace(body, h('section', {class: 'card'}, h('h2', null, 'Audit logging'),
      toggle('controlPlaneAuditLoggingEnabled', 'Control-plane audit logging (management API calls)'),
      toggle('bucketAuditLoggingEnabled', 'Data-plane audit logging for every bucket (S3 requests)'),
      h('p', {class: 'muted'}, 'Events are delivered as gzip JSON Lines to the bucket cw-', me.orgId || '<org>', '-audit-logs; read them on the Audit page.')));
  });
}

export async function usersPage(view, me) {
  const msg = h('div');
  const tokenSlot = h('div');
  const users = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const tokens = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const name = h('input', {type: 'text', placeholder: 'alice', 'data-testid': 'user-name'});
  const role = h('select', {'data-testid': 'user-role'}, h('option', {value: 'member'}, 'member'), h('option', {value: 'admin'}, 'admin'));
  const userForm = h('form', {class: 'inline', on: {submit: async (e) => {
    e.preventDefault();
    replace(msg);
    try {
      const r = await api('POST', '/v1/iam/users', {name: name.value.trim(), role: role.value});
      msg.appendChild(okBox('Created user ' + r.user.name + ' (' + r.user.uid + ').'));
      name.value = '';
      await load();
    } catch (err) {
      replace(msg, errorBox(err));
    }
  }}}, h('label', null, 'Name', name), h('label', null, 'Role', role), h('button', {type: 'submit', class: 'primary'}, 'Create user'));

  replace(view, h('h1', null, 'Users & API tokens'), msg, tokenSlot,
    h('section', {class: 'card'}, h('h2', null, 'Users'), userForm, users),
    h('section', {class: 'card'}, h('h2', null, 'API tokens'), tokens));

  async function createToken(uid) {
    replace(msg);
    const description = window.prompt('Token description', 'console') ;
    if (description === null) return;
    try {
      const r = await api('POST', '/v1/iam/tokens', {uid, durationSeconds: 0, description});
      replace(tokenSlot, h('div', {class: 'secret', 'data-testid': 'new-token'},
        h('strong', null, 'New API token for ', uid, ' — shown only now.'),
        h('output', {'data-testid': 'new-token-value'}, r.token),
        h('div', {class: 'row'}, copyButton(r.token, 'Copy token', 'copy-token'),
          h('button', {type: 'button', on: {click: () => replace(tokenSlot)}}, 'Done, hide it'))));
      await load();
    } catch (err) {
      replace(msg, errorBox(err));
    }
  }

  async function load() {
    await guarded(users, async () => {
      const r = await api('GET', '/v1/iam/users');
      replace(users, table(['Name', 'Uid', 'Role', 'Created', ''], (r.users || []).map((u) => ({attrs: {'data-uid': u.uid}, cells: [
        u.name, {cell: u.uid, class: 'mono'}, pill(u.role, u.role === 'admin' ? 'yes' : ''), u.createdTime,
        h('span', {class: 'row'},
          h('button', {type: 'button', on: {click: () => createToken(u.uid)}}, 'New token'),
          u.uid === me.uid ? null : h('button', {type: 'button', class: 'danger', on: {click: async () => {
            if (!confirmAction('Delete user ' + u.name + ' and their tokens?')) return;
            replace(msg);
            try {
              await api('DELETE', '/v1/iam/users/' + encodeURIComponent(u.uid));
              msg.appendChild(okBox('Deleted user ' + u.name + '.'));
            } catch (err) { replace(msg, errorBox(err)); }
            await load();
          }}}, 'Delete')),
      ]})), {'data-testid': 'users-table'}));
    });
    await guarded(tokens, async () => {
      const r = await api('GET', '/v1/iam/tokens');
      replace(tokens, table(['Token id', 'User', 'Description', 'Expiry', 'Created', ''], (r.tokens || []).map((t) => ({cells: [
        {cell: t.tokenId, class: 'mono'}, {cell: t.uid, class: 'mono'}, t.description, t.expiry || 'never', t.createdTime,
        h('button', {type: 'button', class: 'danger', on: {click: async () => {
          if (!confirmAction('Delete token ' + t.tokenId + '?')) return;
          replace(msg);
          try {
            await api('DELETE', '/v1/iam/tokens/' + encodeURIComponent(t.tokenId));
            msg.appendChild(okBox('Deleted token ' + t.tokenId + '.'));
          } catch (err) { replace(msg, errorBox(err)); }
          await load();
        }}}, 'Delete'),
      ]})), {'data-testid': 'tokens-table'}));
    });
  }
  await load();
}

export async function federationPage(view) {
  const msg = h('div');
  const oidc = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const saml = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const json = h('textarea', {class: 'json', spellcheck: 'false', 'aria-label': 'OIDC config JSON'});
  json.value = JSON.stringify({name: 'ci', issuerUrl: 'https://token.actions.example.com', audience: 'coffer',
    jwks: {keys: []}, active: true}, null, 2);
  const create = h('button', {type: 'button', class: 'primary', on: {click: async () => {
    replace(msg);
    let body;
    try { body = JSON.parse(json.value); } catch (e) { replace(msg, errorBox(new Error('Not valid JSON: ' + e.message))); return; }
    try {
      await api('POST', '/v1/iam/federation/oidc-configs', body);
      msg.appendChild(okBox('OIDC config created.'));
      await load();
    } catch (err) { replace(msg, errorBox(err)); }
  }}}, 'Create OIDC config');

  replace(view, h('h1', null, 'Federation'), msg,
    h('section', {class: 'card'}, h('h2', null, 'OIDC configs'), oidc,
      h('h2', null, 'New OIDC config'), json, h('div', {class: 'row'}, create)),
    h('section', {class: 'card'}, h('h2', null, 'SAML configs'), saml));

  const del = (kind, id) => h('button', {type: 'button', class: 'danger', on: {click: async () => {
    if (!confirmAction('Delete ' + kind + ' config ' + id + '?')) return;
    replace(msg);
    try {
      await api('DELETE', '/v1/iam/federation/' + kind + '-configs/' + encodeURIComponent(id));
      msg.appendChild(okBox('Deleted ' + id + '.'));
    } catch (err) { replace(msg, errorBox(err)); }
    await load();
  }}}, 'Delete');
  const activeToggle = (kind, c) => h('input', {type: 'checkbox', checked: !!c.active, 'aria-label': 'active', on: {change: async (e) => {
    replace(msg);
    try {
      await api('PUT', '/v1/iam/federation/' + kind + '-configs/' + encodeURIComponent(c.configId), {active: e.target.checked});
      msg.appendChild(okBox('Saved.'));
    } catch (err) { replace(msg, errorBox(err)); }
    await load();
  }}});

  async function load() {
    await guarded(oidc, async () => {
      const r = await api('GET', '/v1/iam/federation/oidc-configs' + qs({}));
      const cs = r.configs || [];
      replace(oidc, cs.length ? table(['Name', 'Config id', 'Issuer', 'Audience', 'Active', ''], cs.map((c) => ({cells: [
        c.name, {cell: c.configId, class: 'mono'}, {cell: c.issuerUrl, class: 'mono'}, c.audience, activeToggle('oidc', c), del('oidc', c.configId)]})))
        : h('p', {class: 'muted'}, 'No OIDC configs.'));
    });
    await guarded(saml, async () => {
      const r = await api('GET', '/v1/iam/federation/saml-configs');
      const cs = r.configs || [];
      replace(saml, cs.length ? table(['Name', 'Config id', 'IdP entity id', 'Audience', 'Active', ''], cs.map((c) => ({cells: [
        c.name, {cell: c.configId, class: 'mono'}, {cell: c.idpEntityId, class: 'mono'}, c.audience, activeToggle('saml', c), del('saml', c.configId)]})))
        : h('p', {class: 'muted'}, 'No SAML configs.'));
    });
  }
  await load();
}
