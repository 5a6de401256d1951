// DOM helpers. Every string from the server or the user becomes a Text node or an
// attribute value set through the DOM: never parsed as HTML (no HTML parsing of data anywhere).

/**
 * h('button', {class: 'primary', on: {click}}, 'text', childNode, ...)
 * Attributes go through setAttribute; `on*` attribute names are refused so that data
 * can never become an inline handler. `on` (an object) attaches listeners.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') {
      el[k] = v;
    } else if (/^on/i.test(k)) {
      throw new Error('refusing event-handler attribute ' + k);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table from column titles and rows of cells (strings, nodes or {cell, class}). */
export function table(columns, rows, attrs) {
  const thead = h('thead', null, h('tr', null, columns.map((c) => h('th', null, c))));
  const tbody = h('tbody', null, rows.map((r) => h('tr', r.attrs || null, r.cells.map((c) => {
    if (c && typeof c === 'object' && !(c instanceof Node) && 'cell' in c) return h('td', {class: c.class}, c.cell);
    return h('td', null, c);
  }))));
  return h('table', attrs || null, thead, tbody);
}

/** An error message; 403s read "Not allowed". */
export function errorBox(err) {
  if (err && err.status === 403) {
    return h('div', {class: 'msg denied', role: 'alert', 'data-testid': 'not-allowed'},
      'Not allowed: ', err.message || 'permission denied');
  }
  if (err && err.status === 401) {
    return h('div', {class: 'msg error', role: 'alert'}, 'Not signed in: ', err.message || 'authentication failed');
  }
  return h('div', {class: 'msg error', role: 'alert'}, (err && err.message) || String(err));
}

export function okBox(text) {
  return h('div', {class: 'msg ok', role: 'status'}, text);
}

/** Runs `fn`, showing its error in `slot` instead of breaking the page. */
export async function guarded(slot, fn) {
  try {
    return await fn();
  } catch (e) {
    replace(slot, errorBox(e));
    return undefined;
  }
}

export function bytes(n) {
  n = Number(n || 0);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[i];
}

export function pill(text, cls) {
  return h('span', {class: 'pill ' + (cls || text)}, text);
}

/** Copies text; returns whether the clipboard accepted it. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** A copy button for `text` that reports what happened next to itself. */
export function copyButton(text, label, testid) {
  const note = h('span', {class: 'muted'});
  const btn = h('button', {type: 'button', 'data-testid': testid, on: {click: async () => {
    replace(note, (await copyText(text)) ? ' copied' : ' select the text and copy it');
  }}}, label || 'Copy');
  return h('span', null, btn, note);
}

export function confirmAction(question) {
  return window.confirm(question);
}
