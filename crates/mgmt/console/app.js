// The console shell: sign-in, header (whoami), navigation and the hash router.

import {token, setToken, clearToken, whoami, forgetWhoami} from './api.js';
import {forgetCredentials} from './s3.js';
import {h, replace, errorBox} from './dom.js';
import {bucketsPage, objectsPage} from './page-buckets.js';
import {keysPage} from './page-keys.js';
import {policiesPage} from './page-policies.js';
import {orgPage, usersPage, federationPage} from './page-org.js';
import {auditPage} from './page-audit.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('whoami');
const signout = document.getElementById('signout');

const PAGES = [
  ['buckets', 'Buckets', bucketsPage],
  ['keys', 'Access keys', keysPage],
  ['policies', 'Policies', policiesPage],
  ['org', 'Organization', orgPage],
  ['users', 'Users & tokens', usersPage],
  ['federation', 'Federation', federationPage],
  ['audit', 'Audit', auditPage],
];

function signInForm(message) {
  nav.hidden = true;
  signout.hidden = true;
  replace(who);
  const input = h('input', {type: 'password', id: 'token', name: 'token', autocomplete: 'off',
    'data-testid': 'token-input', placeholder: 'API token'});
  const slot = h('div');
  const form = h('form', {class: 'signin card', 'data-testid': 'signin-form', on: {submit: async (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    setToken(t);
    forgetWhoami();
    try {
      await whoami(true);
    } catch (err) {
      clearToken();
      replace(slot, errorBox(err));
      return;
    }
    if (!location.hash || location.hash === '#/') location.hash = '#/buckets';
    route();
  }}},
  h('h1', null, 'Sign in to Coffer'),
  h('p', {class: 'muted'}, 'Paste an API token (for a fresh server: the contents of coffer-data/bootstrap-token). ',
    'It is kept in this tab\'s session storage only and sent as an Authorization header.'),
  h('label', {for: 'token'}, 'API token'), input,
  h('button', {type: 'submit', class: 'primary', 'data-testid': 'signin'}, 'Sign in'), slot);
  replace(main, form);
  if (message) slot.appendChild(errorBox(message));
  input.focus();
}

function header(me) {
  nav.hidden = false;
  signout.hidden = false;
  const current = (location.hash.slice(2).split('/')[0]) || 'buckets';
  replace(nav, PAGES.map(([id, title]) => h('a', {href: '#/' + id, class: id === current || (id === 'buckets' && current === 'bucket') ? 'current' : null,
    'data-testid': 'nav-' + id}, title)));
  replace(who, me.principal, ' · ', me.role, me.orgId ? ' · org ' + me.orgId : '');
}

async function route() {
  if (!token()) {
    signInForm();
    return;
  }
  let me;
  try {
    me = await whoami();
  } catch (err) {
    if (err.status === 401) {
      clearToken();
      signInForm(err);
      return;
    }
    replace(main, errorBox(err));
    return;
  }
  header(me);
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const page = parts[0] || 'buckets';
  const view = h('div', {'data-testid': 'page-' + page});
  replace(main, view);
  try {
    if (page === 'bucket') {
      // #/bucket/<name>/<encoded prefix>
      await objectsPage(view, decodeURIComponent(parts[1] || ''), decodeURIComponent(parts.slice(2).join('/')), me);
      return;
    }
    const entry = PAGES.find(([id]) => id === page) || PAGES[0];
    await entry[2](view, me);
  } catch (err) {
    view.appendChild(errorBox(err));
  }
}

signout.addEventListener('click', () => {
  clearToken();
  forgetWhoami();
  forgetCredentials();
  location.hash = '#/';
  signInForm();
});

window.addEventListener('hashchange', route);
route();
