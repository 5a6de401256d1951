// Organization access policies: list, a JSON editor whose server-side validation errors
// are shown next to the statement they concern, delete with confirmation, and the
// "Can I?" panel (AuthCanI) with the deciding layer, policy and statement.

import {api} from './api.js';
import {h, replace, table, errorBox, okBox, pill, guarded, confirmAction} from './dom.js';

const TEMPLATE = {
  version: 'v1alpha1',
  name: 'read-models',
  statements: [{
    name: 'read-models', effect: 'Allow',
    actions: ['s3:GetObject', 's3:ListBucket'], resources: ['models', 'models/*'], principals: ['*'],
  }],
};

/** `statements[3]` in a server message → 3. */
function statementIndex(message) {
  const m = /statements\[(\d+)\]/.exec(message || '');
  return m ? Number(m[1]) : null;
}

export async function policiesPage(view) {
  const msg = h('div');
  const list = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const editor = h('textarea', {class: 'json', spellcheck: 'false', 'data-testid': 'policy-editor', 'aria-label': 'policy JSON'});
  editor.value = JSON.stringify(TEMPLATE, null, 2);
  const outline = h('ul', {class: 'stmts', 'data-testid': 'statements'});
  const editorMsg = h('div', {'data-testid': 'editor-msg'});

  function renderOutline(errorAt, errorText) {
    let policy;
    try {
      policy = JSON.parse(editor.value);
    } catch (e) {
      replace(outline, h('li', {class: 'bad'}, 'Not valid JSON: ', e.message));
      return;
    }
    const stmts = Array.isArray(policy && policy.statements) ? policy.statements : [];
    replace(outline, stmts.map((s, i) => h('li', {class: i === errorAt ? 'bad' : null, 'data-statement': String(i)},
      h('strong', null, '#' + i + ' '), String((s && s.name) || '(unnamed)'), ' ',
      pill(String((s && s.effect) || '?'), s && s.effect === 'Deny' ? 'no' : 'yes'),
      i === errorAt ? h('span', {class: 'stmt-error', 'data-testid': 'statement-error'}, errorText) : null)));
  }
  editor.addEventListener('input', () => renderOutline(null));

  const apply = h('button', {type: 'button', class: 'primary', 'data-testid': 'apply-policy', on: {click: async () => {
    replace(editorMsg);
    let policy;
    try {
      policy = JSON.parse(editor.value);
    } catch (e) {
      replace(editorMsg, errorBox(new Error('Not valid JSON: ' + e.message)));
      return;
    }
    try {
      await api('POST', '/v1/cwobject/access-policy', {policy});
      renderOutline(null);
      editorMsg.appendChild(okBox('Policy ' + (policy.name || '') + ' applied.'));
      await load();
    } catch (err) {
      const at = statementIndex(err.message);
      renderOutline(at, err.message);
      replace(editorMsg, errorBox(err));
    }
  }}}, 'Apply policy');

  // Can I?
  const actions = h('input', {type: 'text', size: '30', value: 's3:GetObject', 'data-testid': 'cani-actions'});
  const resources = h('input', {type: 'text', size: '30', value: 'models/a.bin', 'data-testid': 'cani-resources'});
  const caniOut = h('div', {'data-testid': 'cani-result'});
  const caniForm = h('form', {class: 'inline', on: {submit: async (e) => {
    e.preventDefault();
    const split = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
    await guarded(caniOut, async () => {
      const r = await api('POST', '/v1/cwobject/auth/can-i', {actions: split(actions.value), resources: split(resources.value)});
      replace(caniOut, h('p', null, 'Verdict: ', pill(r.verdict ? 'allowed' : 'denied')),
        table(['Action', 'Resource', 'Allowed', 'Decided by layer', 'Policy', 'Statement'], (r.decisions || []).map((d) => ({cells: [
          d.action, {cell: d.resource, class: 'mono'}, pill(d.allowed ? 'yes' : 'no'),
          (d.decidedBy && d.decidedBy.layer) || '', (d.decidedBy && d.decidedBy.policy) || '—', (d.decidedBy && d.decidedBy.statement) || '—',
        ]}))));
    });
  }}}, h('label', null, 'Actions (comma separated)', actions), h('label', null, 'Resources (bucket or bucket/key)', resources),
  h('button', {type: 'submit', 'data-testid': 'cani'}, 'Can I?'));

  replace(view, h('h1', null, 'Access policies'), msg, list,
    h('section', {class: 'card'}, h('h2', null, 'Editor'),
      h('p', {class: 'muted'}, 'Applying a policy with an existing name replaces it. The server validates it; errors appear next to the statement they concern.'),
      editor, outline, h('div', {class: 'row'}, apply), editorMsg),
    h('section', {class: 'card'}, h('h2', null, 'Can I?'),
      h('p', {class: 'muted'}, 'What you (this token\'s user) may do, and which layer, policy and statement decided it (another organization\'s policies are shown as —).'), caniForm, caniOut));
  renderOutline(null);

  async function load() {
    await guarded(list, async () => {
      const r = await api('GET', '/v1/cwobject/access-policy');
      const policies = r.policies || [];
      if (!policies.length) { replace(list, h('p', {class: 'muted'}, 'No policies: everything is denied (default deny).')); return; }
      replace(list, table(['Name', 'Statements', ''], policies.map((p) => ({attrs: {'data-policy': p.name}, cells: [
        {cell: p.name, class: 'mono policy-name'},
        (p.statements || []).map((s) => s.name + ' (' + s.effect + ')').join(', '),
        h('span', {class: 'row'},
          h('button', {type: 'button', 'data-testid': 'edit-policy', on: {click: () => {
            editor.value = JSON.stringify(p, null, 2);
            renderOutline(null);
            editor.focus();
          }}}, 'Edit'),
          h('button', {type: 'button', class: 'danger', 'data-testid': 'delete-policy', on: {click: async () => {
            if (!confirmAction('Delete policy "' + p.name + '"?')) return;
            replace(msg);
            try {
              await api('DELETE', '/v1/cwobject/access-policy/' + encodeURIComponent(p.name));
              msg.appendChild(okBox('Deleted policy ' + p.name + '.'));
            } catch (err) {
              replace(msg, errorBox(err));
            }
            await load();
          }}}, 'Delete')),
      ]})), {'data-testid': 'policies-table'}));
    });
  }
  await load();
}
