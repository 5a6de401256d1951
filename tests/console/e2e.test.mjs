// End-to-end test of the web console: Debian chromium (headless) driven by
// playwright-core against a real `coffer server` started by scripts/console-e2e.sh.
//
// Environment: COFFER_API (management base URL), COFFER_S3 (S3 base URL),
// COFFER_TOKEN (bootstrap admin token), CHROMIUM (browser binary), and optionally
// COFFER_SCREENSHOTS (directory: one PNG per page is written there).

import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {createHash, randomBytes} from 'node:crypto';
import {mkdtempSync, writeFileSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {chromium} from 'playwright-core';

const API = must('COFFER_API');
const S3 = must('COFFER_S3');
const TOKEN = must('COFFER_TOKEN');
const CHROMIUM = must('CHROMIUM');
const SHOTS = process.env.COFFER_SCREENSHOTS || '';
const XSS = '<img src=x onerror=alert(1)>';
const BUCKET = 'console-e2e';

function must(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set (run scripts/console-e2e.sh)`);
  return v;
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

async function apiCall(method, path, token, body) {
  const r = await fetch(API + path, {
    method,
    headers: {Authorization: 'Bearer ' + token, ...(body ? {'Content-Type': 'application/json'} : {})},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return {status: r.status, body: text ? JSON.parse(text) : {}};
}

let browser;
let work;
/** Alert dialogs seen (an executed XSS payload would open one). */
const alerts = [];
/** CSP violations and uncaught page errors, from every page. */
const problems = [];

function watch(page) {
  page.on('dialog', async (d) => {
    if (d.type() === 'alert') alerts.push(d.message());
    await d.accept();
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
}

async function shot(page, name) {
  if (!SHOTS) return;
  await page.screenshot({path: join(SHOTS, name + '.png'), fullPage: true});
}

async function signIn(page, token) {
  await page.goto(API + '/console/');
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('signin').click();
  await page.getByTestId('whoami').filter({hasText: 'coreweave/'}).waitFor();
}

async function go(page, hash) {
  await page.goto(API + '/console/' + hash);
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'coffer-console-'));
  browser = await chromium.launch({executablePath: CHROMIUM, headless: true, args: ['--no-sandbox']});
});

after(async () => {
  if (browser) await browser.close();
  if (work) rmSync(work, {recursive: true, force: true});
  assert.deepEqual(problems, [], 'no CSP violations or uncaught errors in any page');
  assert.deepEqual(alerts, [], 'no script ran from data');
});

test('the console works end to end for an admin, and a member sees "not allowed"', async (t) => {
  const context = await browser.newContext({acceptDownloads: true, viewport: {width: 1280, height: 860}});
  const page = await context.newPage();
  watch(page);
  let admin;
  let keyId;
  const big = randomBytes(20 * 1024 * 1024);
  const bigPath = join(work, 'big.bin');
  writeFileSync(bigPath, big);

  await t.test('sign in; the token stays out of URLs; whoami in the header', async () => {
    await page.goto(API + '/console/');
    await shot(page, 'signin');
    await signIn(page, TOKEN);
    admin = (await apiCall('GET', '/v1/iam/whoami', TOKEN)).body;
    const header = await page.getByTestId('whoami').textContent();
    assert.ok(header.includes(admin.principal) && header.includes('admin'), header);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('coffer.token')), TOKEN);
    assert.ok(!page.url().includes(TOKEN));
    const stored = await page.evaluate(() => JSON.stringify(localStorage));
    assert.ok(!stored.includes(TOKEN), 'token not in localStorage');
  });

  await t.test('the browser enforces the CSP: injected inline script does not run', async () => {
    const before = problems.length;
    const ran = await page.evaluate(async () => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.body.appendChild(s);
      const d = document.createElement('div');
      d.setAttribute('onclick', 'window.__inlineRan = true');
      document.body.appendChild(d);
      d.click();
      await new Promise((r) => setTimeout(r, 100));
      return window.__inlineRan === true;
    });
    assert.equal(ran, false);
    await page.waitForTimeout(200);
    assert.ok(problems.length > before, 'the CSP violation was reported');
    problems.splice(before);
  });

  await t.test('org settings: enable control-plane audit logging', async () => {
    await go(page, '#/org');
    const box = page.getByTestId('controlPlaneAuditLoggingEnabled');
    await box.waitFor();
    if (!(await box.isChecked())) {
      await box.check();
      await page.getByText('Saved.').waitFor();
    }
    const s = await apiCall('GET', '/v1/cwobject/organization/settings', TOKEN);
    assert.equal(s.body.settings.controlPlaneAuditLoggingEnabled, true);
    await shot(page, 'org');
  });

  await t.test('create an access key: the secret is shown once', async () => {
    await go(page, '#/keys');
    await page.getByTestId('key-attrs').fill('name=console-e2e');
    await page.getByTestId('create-key').click();
    await page.getByTestId('new-key-secret').waitFor();
    keyId = (await page.getByTestId('new-key-id').textContent()).trim();
    const secret = (await page.getByTestId('new-key-secret').textContent()).trim();
    assert.match(keyId, /^CW/);
    assert.ok(secret.length >= 20);
    await page.getByTestId('copy-secret').waitFor();
    const row = page.locator(`tr[data-key-id="${keyId}"]`);
    await row.getByText('ACTIVE').waitFor();
    await row.getByText('name=console-e2e').waitFor();
    await page.getByText('Done, hide it').click();
    await shot(page, 'keys');
    // Never again: not after hiding, not after a reload.
    await page.reload();
    await page.locator(`tr[data-key-id="${keyId}"]`).waitFor();
    assert.equal(await page.content().then((c) => c.includes(secret)), false);
  });

  await t.test('apply a policy; validation errors sit next to their statement; Can I?', async () => {
    await go(page, '#/policies');
    const editor = page.getByTestId('policy-editor');
    await editor.waitFor();
    // Statement 1 is invalid: the error must be shown on statement #1.
    await editor.fill(JSON.stringify({version: 'v1alpha1', name: 'console-admin', statements: [
      {name: 'ok', effect: 'Allow', actions: ['*'], resources: ['*'], principals: [admin.principal]},
      {name: 'broken', effect: 'Perhaps', actions: ['*'], resources: ['*'], principals: ['*']},
    ]}));
    await page.getByTestId('apply-policy').click();
    const err = page.locator('li[data-statement="1"] [data-testid=statement-error]');
    await err.waitFor();
    assert.match(await err.textContent(), /statements\[1\]/);
    assert.equal(await page.locator('li[data-statement="0"] [data-testid=statement-error]').count(), 0);

    await editor.fill(JSON.stringify({version: 'v1alpha1', name: 'console-admin', statements: [
      {name: 'admin-all', effect: 'Allow', actions: ['*'], resources: ['*'], principals: [admin.principal]},
    ]}, null, 2));
    await page.getByTestId('apply-policy').click();
    await page.getByText('Policy console-admin applied.').waitFor();
    await page.locator('tr[data-policy="console-admin"]').waitFor();

    await page.getByTestId('cani-actions').fill('s3:GetObject');
    await page.getByTestId('cani-resources').fill(`${BUCKET}/a.bin`);
    await page.getByTestId('cani').click();
    const result = page.getByTestId('cani-result');
    await result.getByText('allowed').first().waitFor();
    const text = await result.textContent();
    assert.ok(text.includes('console-admin') && text.includes('admin-all'), text);
    await shot(page, 'policies');
  });

  await t.test('create a bucket with audit logging', async () => {
    await go(page, '#/buckets');
    await page.getByTestId('new-bucket').fill(BUCKET);
    await page.getByTestId('create-bucket').click();
    const row = page.locator(`tr[data-bucket="${BUCKET}"]`);
    await row.waitFor();
    await row.getByTestId('audit-toggle').check();
    await page.getByText(`Settings of ${BUCKET} saved.`).waitFor();
    const info = await apiCall('GET', `/v1/cwobject/bucket-info/${BUCKET}`, TOKEN);
    assert.equal(info.body.info.settings.auditLoggingEnabled, true);
  });

  await t.test('upload 20 MiB with progress to 100%, list, download, compare', async () => {
    await go(page, `#/bucket/${BUCKET}/`);
    await page.getByTestId('upload-file').setInputFiles(bigPath);
    await page.getByTestId('upload-key').fill('models/big.bin');
    const seen = new Set();
    const poll = setInterval(async () => {
      try { seen.add(await page.getByTestId('upload-progress').evaluate((e) => e.value)); } catch { /* navigating */ }
    }, 50);
    await page.getByTestId('upload').click();
    await page.getByText('Uploaded models/big.bin (20.0 MiB).').waitFor({timeout: 120_000});
    clearInterval(poll);
    assert.equal(await page.getByTestId('upload-percent').textContent(), '100%');
    assert.equal(await page.getByTestId('upload-progress').evaluate((e) => e.value), 100);
    assert.ok([...seen].some((v) => v > 0 && v < 100), `intermediate progress seen: ${[...seen]}`);

    // Prefix navigation: the folder, then the object in it.
    await page.locator('tr[data-folder="models/"] a').click();
    const row = page.locator('tr[data-key="models/big.bin"]');
    await row.waitFor();
    assert.ok((await row.textContent()).includes('20.0 MiB'));
    await shot(page, 'objects');

    const [download] = await Promise.all([page.waitForEvent('download'), row.getByTestId('download').click()]);
    const got = readFileSync(await download.path());
    assert.equal(got.length, big.length);
    assert.equal(sha256(got), sha256(big), 'downloaded bytes equal the uploaded ones');

    // A presigned link to the S3 listener that works without any credentials.
    await row.getByTestId('presign').click();
    const url = await page.getByTestId('presigned-url').inputValue();
    assert.ok(url.startsWith(S3 + '/' + BUCKET + '/models/big.bin?'), url);
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.equal(sha256(Buffer.from(await r.arrayBuffer())), sha256(big));
  });

  await t.test('an upload interrupted by a page reload resumes', async () => {
    const other = randomBytes(20 * 1024 * 1024);
    const otherPath = join(work, 'resume.bin');
    writeFileSync(otherPath, other);
    await go(page, `#/bucket/${BUCKET}/`);
    await page.getByTestId('upload-file').setInputFiles(otherPath);
    await page.getByTestId('upload-key').fill('resume.bin');
    // Part 2 is held (never answered) until the page is reloaded, so the interruption
    // falls after part 1 however fast or loaded the machine is (waiting for a progress
    // figure raced the upload: on a busy machine it could finish before the reload).
    const partTwo = /\/resume\.bin\?(?:.*&)?partNumber=2(?:&|$)/;
    let reached;
    const partTwoSent = new Promise((resolve) => { reached = resolve; });
    await page.route(partTwo, () => reached());
    await page.getByTestId('upload').click();
    await partTwoSent;
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('coffer.upload:')).length), 1);
    await page.reload();
    await page.unroute(partTwo);
    await page.getByTestId('upload-file').setInputFiles(otherPath);
    await page.getByTestId('upload-key').fill('resume.bin');
    await page.getByTestId('upload').click();
    const done = page.getByText(/Uploaded resume\.bin \(20\.0 MiB\), resumed after 1 parts\./);
    await done.waitFor({timeout: 120_000});
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('coffer.upload:')).length), 0,
      'nothing left to resume');
    const row = page.locator('tr[data-key="resume.bin"]');
    const [download] = await Promise.all([page.waitForEvent('download'), row.getByTestId('download').click()]);
    assert.equal(sha256(readFileSync(await download.path())), sha256(other));
    await row.getByTestId('delete-object').click();
    await page.getByText('Deleted resume.bin.').waitFor();
    await page.locator('tr[data-key="resume.bin"]').waitFor({state: 'detached'});
  });

  await t.test('object listings page through more than 50 keys', async () => {
    // Through the console's own S3 module (same-origin import is allowed by the CSP).
    await page.evaluate(async (bucket) => {
      const m = await import('/console/s3.js');
      await Promise.all(Array.from({length: 51}, (_, i) => m.s3('PUT', bucket, 'many/k' + String(i).padStart(3, '0'), {body: 'x'})));
    }, BUCKET);
    await go(page, `#/bucket/${BUCKET}/many%2F`);
    await page.locator('tr[data-key="many/k000"]').waitFor();
    assert.equal(await page.locator('tr[data-key]').count(), 50);
    await page.getByTestId('next-page').click();
    await page.locator('tr[data-key="many/k050"]').waitFor();
    assert.equal(await page.locator('tr[data-key]').count(), 1);
    assert.ok(await page.getByTestId('next-page').isDisabled());
    await page.getByText('← Previous').click();
    await page.locator('tr[data-key="many/k000"]').waitFor();
  });

  await t.test('XSS: an object key and a policy name render as text', async () => {
    await go(page, `#/bucket/${BUCKET}/`);
    const small = join(work, 'x.txt');
    writeFileSync(small, 'hello');
    await page.getByTestId('upload-file').setInputFiles(small);
    await page.getByTestId('upload-key').fill(XSS);
    await page.getByTestId('upload').click();
    await page.getByText('Uploaded ' + XSS).waitFor();
    const cell = page.locator('td.key').filter({hasText: XSS});
    await cell.waitFor();
    assert.equal(await cell.textContent(), XSS);
    assert.equal(await page.locator('main img').count(), 0, 'no <img> element was created');

    await go(page, '#/policies');
    await page.getByTestId('policy-editor').fill(JSON.stringify({version: 'v1alpha1', name: XSS, statements: [
      {name: XSS, effect: 'Allow', actions: ['*'], resources: [XSS], principals: ['*']}]}));
    await page.getByTestId('apply-policy').click();
    const msg = page.getByTestId('editor-msg');
    await msg.getByRole('alert').waitFor();
    assert.ok((await msg.textContent()).includes(XSS), 'the server\'s message quoting the name is shown as text');
    assert.ok((await page.getByTestId('statements').textContent()).includes(XSS), 'the statement name is shown as text');
    assert.equal(await page.locator('main img').count(), 0, 'no <img> element was created');
    await page.waitForTimeout(300);
    assert.deepEqual(alerts, []);
  });

  await t.test('revoke the key', async () => {
    await go(page, '#/keys');
    const row = page.locator(`tr[data-key-id="${keyId}"]`);
    await row.getByTestId('revoke').click();
    await page.getByText(`Revoked ${keyId}.`).waitFor();
    await page.locator(`tr[data-key-id="${keyId}"]`).getByText('DELETED').waitFor();
    const k = await apiCall('GET', `/v1/cwobject/access-key/${keyId}`, TOKEN);
    assert.match(k.body.info.status, /DELETED/);
  });

  await t.test('the audit viewer shows the control- and data-plane entries', async () => {
    await go(page, '#/audit');
    await page.getByTestId('audit-action').fill('RevokeAccessKey');
    const deadline = Date.now() + 30_000;
    // The server flushes audit events every second in this test run.
    for (;;) {
      await page.getByTestId('audit-query').click();
      await page.getByTestId('audit-status').filter({hasText: /events from/}).waitFor();
      if (await page.locator('tr[data-action="cwobject:RevokeAccessKeyByAccessKey"]').count() > 0) break;
      assert.ok(Date.now() < deadline, 'revoke event shows up in the audit viewer');
      await page.waitForTimeout(1000);
    }
    const revoke = page.locator('tr[data-action="cwobject:RevokeAccessKeyByAccessKey"]').first();
    assert.ok((await revoke.textContent()).includes(keyId));
    assert.ok((await revoke.textContent()).includes('allowed'));

    await page.getByTestId('audit-action').fill('CompleteMultipartUpload');
    await page.getByTestId('audit-bucket').fill(BUCKET);
    await page.getByTestId('audit-stream').selectOption('data-plane');
    const deadline2 = Date.now() + 30_000;
    for (;;) {
      await page.getByTestId('audit-query').click();
      await page.getByTestId('audit-status').filter({hasText: /events from/}).waitFor();
      // big.bin and resume.bin, both multipart.
      if (await page.locator('tr[data-action="s3:CompleteMultipartUpload"]').count() >= 2) break;
      assert.ok(Date.now() < deadline2, 'the uploads show up in the data-plane audit');
      await page.waitForTimeout(1000);
    }
    // More than one page of data-plane events (51 PUTs above): page through them.
    await page.getByTestId('audit-action').fill('');
    await page.getByTestId('audit-query').click();
    await page.getByText(/Page 1 of [2-9]/).waitFor();
    assert.equal(await page.locator('tr[data-action]').count(), 50);
    await page.getByText('Older →').click();
    await page.getByText(/Page 2 of/).waitFor();
    assert.ok(await page.locator('tr[data-action]').count() >= 1);
    // Control plane: the refused XSS policy name is an event identifier, shown as text.
    await page.getByTestId('audit-stream').selectOption('control-plane');
    await page.getByTestId('audit-bucket').fill('');
    await page.getByTestId('audit-query').click();
    await page.locator('tr[data-action="cwobject:EnsureAccessPolicy"]').filter({hasText: XSS}).waitFor();
    assert.equal(await page.locator('main img').count(), 0);
    await shot(page, 'audit');
  });

  await t.test('users, tokens and federation pages (admin)', async () => {
    await go(page, '#/users');
    await page.getByTestId('users-table').waitFor();
    await page.locator(`tr[data-uid="${admin.uid}"]`).waitFor();
    await page.getByTestId('tokens-table').waitFor();
    await shot(page, 'users');
    await go(page, '#/federation');
    await page.getByText('No OIDC configs.').or(page.locator('table').first()).first().waitFor();
    await shot(page, 'federation');
    await go(page, '#/buckets');
    await page.getByTestId('buckets-table').waitFor();
    await shot(page, 'buckets');
  });

  await t.test('a member without permissions sees "not allowed" messages', async () => {
    const user = await apiCall('POST', '/v1/iam/users', TOKEN, {name: 'console-nobody', role: 'member'});
    assert.equal(user.status, 200, JSON.stringify(user.body));
    const tok = await apiCall('POST', '/v1/iam/tokens', TOKEN, {uid: user.body.user.uid, durationSeconds: 0, description: 'e2e'});
    assert.equal(tok.status, 200, JSON.stringify(tok.body));
    const ctx = await browser.newContext({viewport: {width: 1280, height: 700}});
    const p = await ctx.newPage();
    watch(p);
    await signIn(p, tok.body.token);
    for (const hash of ['#/buckets', `#/bucket/${BUCKET}/`, '#/keys', '#/policies', '#/users', '#/federation']) {
      await go(p, hash);
      const denied = p.getByTestId('not-allowed').first();
      await denied.waitFor({timeout: 10_000}).catch(() => {
        throw new Error(`no "not allowed" message on ${hash}`);
      });
      assert.match(await denied.textContent(), /^Not allowed: /, hash);
      if (hash === '#/buckets') await shot(p, 'member-not-allowed');
    }
    // Org settings are readable by every member; changing them is not allowed.
    await go(p, '#/org');
    const box = p.getByTestId('bucketAuditLoggingEnabled');
    await box.waitFor();
    const before = await box.isChecked();
    await box.click();
    await p.getByTestId('not-allowed').first().waitFor();
    assert.equal(await box.isChecked(), before, 'the toggle springs back');
    await go(p, '#/audit');
    await p.getByTestId('audit-query').click();
    await p.getByTestId('not-allowed').first().waitFor();
    await ctx.close();
  });

  await context.close();
});
