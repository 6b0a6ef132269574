// The practice console in a real browser against the real server: enrolment and passkey
// sign-in, the review queue (release reaches the patient's API, withhold keeps the result
// away), proxy access reaching the proxy's `/me`, a prescription approved, a message answered,
// a record access request granted, a setting changed reaching the patient's `/me`,
// the session ended as the API ends it, the Content-Security-Policy enforced, and an
// accessibility scan of every page. Screenshots of the review queue and the uptake page are kept
// under target/console-tests/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import {
  artefacts, call, consoleToken, launchBrowser, pageWithAuthenticator, registerPatient,
  seriousViolations, startServer,
} from './harness.js';

let server;
let browser;
let clinician; // a page signed in as the clinician
let admin; // a page signed in as the admin
let phone; // a page whose authenticator holds the patients' passkeys
let subject; // { demo, id, tokens, pending: [result ids] }

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function enrol(page, code) {
  await page.goto(`${server.origin}/practice/enrol`);
  await page.getByLabel('One-time enrolment code').fill(code);
  await page.getByRole('button', { name: 'Enrol a passkey' }).click();
  await page.waitForURL('**/practice/review');
  await page.getByRole('heading', { level: 1, name: 'Review queue' }).waitFor();
}

test('staff enrol with their one-time code, sign out, and sign in again with the passkey', async () => {
  clinician = await pageWithAuthenticator(browser);
  await enrol(clinician, server.staff.clinician.code);
  assert.equal((await clinician.credentials()).length, 1, 'one resident passkey on the authenticator');
  await clinician.getByText(`${server.staff.clinician.name} (clinician)`).waitFor();
  const oldToken = await consoleToken(clinician);

  await clinician.getByRole('button', { name: 'Sign out' }).click();
  await clinician.waitForURL(`${server.origin}/practice/`);
  await clinician.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.equal((await call(server.origin, oldToken, 'GET', '/api/v1/practice/me')).status, 401,
    'the signed-out token no longer works');

  await clinician.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await clinician.waitForURL('**/practice/review');
  await clinician.getByText(`${server.staff.clinician.name} (clinician)`).waitFor();

  admin = await pageWithAuthenticator(browser);
  await enrol(admin, server.staff.admin.code);
  await admin.getByText(`${server.staff.admin.name} (admin)`).waitFor();
});

test('a console page without a session sends the browser to sign-in and back', async () => {
  const page = await pageWithAuthenticator(browser);
  await page.goto(`${server.origin}/practice/uptake`);
  await page.waitForURL('**/practice/?next=%2Fpractice%2Fuptake');
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await page.context().close();
});

test('the console is served with a strict Content-Security-Policy that blocks inline script', async () => {
  const response = await fetch(`${server.origin}/practice/review`);
  const policy = response.headers.get('content-security-policy');
  assert.match(policy, /script-src 'self'/);
  assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|https?:/);
  assert.match(policy, /frame-ancestors 'none'/);
  assert.equal((await fetch(`${server.origin}/practice/assets/nothing.js`)).status, 404);
  await assert.rejects(clinician.addScriptTag({ content: 'window.injected = true;' }));
  assert.equal(await clinician.evaluate(() => window.injected), undefined, 'the inline script did not run');
});

test('a clinician releases a pending result and the patient sees it in their API view', async () => {
  const staffToken = await consoleToken(clinician);
  const queue = (await call(server.origin, staffToken, 'GET', '/api/v1/practice/review-queue')).body.items;
  // A patient with at least two pending results on the first page, who may see results online.
  const counts = new Map();
  for (const item of queue.filter((i) => i.kind === 'result')) {
    counts.set(item.patient.nhs_number, [...(counts.get(item.patient.nhs_number) || []), item]);
  }
  const [nhsNumber, items] = [...counts].find(([number, list]) => list.length >= 2
    && ['detailed', 'documents'].includes(server.demo.patients.find((p) => p.nhs_number === number)?.access_level));
  phone = await pageWithAuthenticator(browser);
  const demo = server.demo.patients.find((p) => p.nhs_number === nhsNumber);
  const tokens = await registerPatient(phone, server.origin, demo);
  subject = { demo, id: items[0].patient.id, tokens, pending: items.map((i) => i.id) };
  const results = async () => (await call(server.origin, tokens.access_token, 'GET',
    `/api/v1/patients/${subject.id}/record/results`)).body.results.map((r) => r.id);
  assert.ok(!(await results()).includes(subject.pending[0]), 'pending: not yet visible to the patient');

  await clinician.goto(`${server.origin}/practice/review`);
  const card = clinician.locator(`article[data-item="${subject.pending[0]}"]`);
  await card.getByRole('button', { name: 'Show trend' }).click();
  await card.getByRole('table').nth(1).waitFor();
  await card.getByLabel('Comment for the patient (optional)').fill('Normal – no action');
  await card.getByRole('button', { name: 'Release' }).click();
  await clinician.getByRole('status').filter({ hasText: 'Released' }).waitFor();
  await card.waitFor({ state: 'detached' });

  assert.ok((await results()).includes(subject.pending[0]), 'released: in the patient\'s results');
});

test('a clinician withholds a pending result and the patient never sees it', async () => {
  await clinician.goto(`${server.origin}/practice/review`);
  const card = clinician.locator(`article[data-item="${subject.pending[1]}"]`);
  await card.getByLabel('Reason for withholding').selectOption('serious_harm');
  await card.getByRole('button', { name: 'Withhold' }).click();
  await clinician.getByRole('status').filter({ hasText: 'Withheld' }).waitFor();
  const record = await call(server.origin, subject.tokens.access_token, 'GET', `/api/v1/patients/${subject.id}/record/results`);
  assert.equal(record.status, 200);
  assert.ok(!JSON.stringify(record.body).includes(subject.pending[1]), 'the withheld result is absent');

  // Released items are open to retraction, oldest received first: open the page that holds it.
  const staffToken = await consoleToken(clinician);
  let after = null;
  for (;;) {
    const query = new URLSearchParams({ status: 'released', ...(after ? { after } : {}) });
    const page = (await call(server.origin, staffToken, 'GET', `/api/v1/practice/review-queue?${query}`)).body;
    if (page.items.some((i) => i.id === subject.pending[0])) break;
    assert.ok(page.next_cursor, 'the released result is in the released list');
    after = page.next_cursor;
  }
  const query = new URLSearchParams({ status: 'released', ...(after ? { after } : {}) });
  await clinician.goto(`${server.origin}/practice/review?${query}`);
  const released = clinician.locator(`article[data-item="${subject.pending[0]}"]`);
  await released.getByRole('button', { name: 'Retract' }).waitFor();
  await clinician.screenshot({ path: join(artefacts, 'review-queue-released.png'), fullPage: false });
  await clinician.goto(`${server.origin}/practice/review`);
  await clinician.locator('article.card').first().waitFor();
  await clinician.screenshot({ path: join(artefacts, 'review-queue.png'), fullPage: false });
});

test('an admin grants proxy access in the console and the proxy\'s /me changes', async () => {
  const proxyDemo = server.demo.patients.find((p) => p.age >= 18 && p.nhs_number !== subject.demo.nhs_number
    && !server.demo.proxies.some((x) => x.nhs_number === p.nhs_number));
  const proxyTokens = await registerPatient(phone, server.origin, proxyDemo);
  const profiles = async () => (await call(server.origin, proxyTokens.access_token, 'GET', '/api/v1/me')).body;
  assert.ok(!JSON.stringify(await profiles()).includes(subject.id), 'not yet acting for the patient');

  await admin.goto(`${server.origin}/practice/proxies`);
  await admin.getByRole('heading', { level: 1, name: 'Proxy access' }).waitFor();
  await admin.getByLabel('NHS number or name').fill(subject.demo.nhs_number);
  await admin.getByRole('button', { name: 'Search' }).click();
  await admin.getByRole('button', { name: `Choose ${subject.demo.given_name} ${subject.demo.family_name}` }).click();
  await admin.waitForURL(`**/practice/proxies?patient=${subject.id}`);
  await admin.getByLabel('Find the proxy among the practice’s patients (NHS number or name)').fill(proxyDemo.nhs_number);
  await admin.getByRole('button', { name: 'Search' }).click();
  await admin.getByRole('button', { name: `Choose ${proxyDemo.given_name} ${proxyDemo.family_name}` }).click();
  await admin.getByLabel('Relationship').fill('carer');
  await admin.getByLabel('Legal basis').selectOption('patient_consent');
  await admin.getByLabel('Appointments').check();
  await admin.getByLabel('Messages').check();
  await admin.getByLabel('Ends on').fill('2030-01-01');
  await admin.getByRole('button', { name: 'Record decision' }).click();
  await admin.getByRole('status').filter({ hasText: 'Recorded' }).waitFor();

  const me = await profiles();
  assert.ok(JSON.stringify(me).includes(subject.id), 'the proxy now acts for the patient');
});

test('a clinician approves a prescription request and the patient sees it approved', async () => {
  // The oldest request waiting in the demo practice's queue; its patient registers to look.
  const queue = (await call(server.origin, await consoleToken(clinician), 'GET',
    '/api/v1/practice/prescription-requests?status=requested')).body;
  const request = queue.find((r) => r.patient.id !== subject.id
    && server.demo.patients.some((p) => p.nhs_number === r.patient.nhs_number && p.age >= 16));
  const orderer = server.demo.patients.find((p) => p.nhs_number === request.patient.nhs_number);
  const tokens = await registerPatient(phone, server.origin, orderer);
  const item = request.items.find((i) => i.status === 'requested');

  await clinician.goto(`${server.origin}/practice/prescriptions`);
  const course = clinician.locator(`article[data-request="${request.id}"] li[data-item="${item.id}"]`);
  await course.getByRole('button', { name: 'Approve' }).click();
  await clinician.getByRole('status').filter({ hasText: `Approved ${item.medication}` }).waitFor();

  const mine = (await call(server.origin, tokens.access_token, 'GET',
    `/api/v1/patients/${request.patient.id}/prescription-requests`)).body;
  const decided = mine.find((r) => r.id === request.id).items.find((i) => i.id === item.id);
  assert.equal(decided.status, 'approved');
});

test('staff reply to a patient\'s message and the patient reads the reply', async () => {
  const subjectLine = `Console test ${Date.now()}`;
  const started = await call(server.origin, subject.tokens.access_token, 'POST', `/api/v1/patients/${subject.id}/messages`,
    { subject: subjectLine, body: 'Could I have my blood test results explained?' });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const threadId = started.body.id;

  await clinician.goto(`${server.origin}/practice/messages`);
  await clinician.getByRole('button', { name: `Open “${subjectLine}”` }).click();
  await clinician.getByLabel('Reply').fill('Your results are normal; no action is needed.');
  await clinician.getByRole('button', { name: 'Send reply' }).click();
  await clinician.getByRole('status').filter({ hasText: 'Reply sent' }).waitFor();

  const thread = (await call(server.origin, subject.tokens.access_token, 'GET',
    `/api/v1/patients/${subject.id}/messages/${threadId}`)).body;
  assert.ok(thread.messages.some((m) => m.sender === 'staff' && m.body.includes('no action is needed')));
});

test('a patient\'s request for their historic record is granted in the console', async () => {
  const asked = await call(server.origin, subject.tokens.access_token, 'POST',
    `/api/v1/patients/${subject.id}/record-access-requests`, { level: 'documents', note: 'For my consultant' });
  assert.equal(asked.status, 200, JSON.stringify(asked.body));
  await admin.goto(`${server.origin}/practice/access-requests`);
  const card = admin.locator(`section[data-request="${asked.body.id}"]`);
  await card.getByText('Their note: For my consultant').waitFor();
  await card.getByLabel('Level to grant').selectOption('documents');
  await card.getByLabel('Show entries from').fill('2015-04-01');
  await card.getByRole('button', { name: 'Grant' }).click();
  await admin.getByRole('status').filter({ hasText: 'Granted' }).waitFor();
  await card.waitFor({ state: 'detached' });
  const mine = (await call(server.origin, subject.tokens.access_token, 'GET',
    `/api/v1/patients/${subject.id}/record-access-requests`)).body;
  assert.equal(mine[0].status, 'granted');
  assert.equal(mine[0].granted_from, '2015-04-01');
});

test('an admin switches messages off in the settings and the patient\'s /me changes at once', async () => {
  const messages = async () => (await call(server.origin, subject.tokens.access_token, 'GET', '/api/v1/me'))
    .body.profiles.find((p) => p.patient_id === subject.id).capabilities.messages;
  assert.equal(await messages(), true);
  await admin.goto(`${server.origin}/practice/settings`);
  await admin.getByLabel('Messages', { exact: true }).uncheck();
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await admin.getByRole('status').filter({ hasText: 'Settings saved' }).waitFor();
  assert.equal(await messages(), false);

  // A value outside the rules is refused, naming the setting.
  await admin.getByLabel('Age at which parents’ record access is reviewed').fill('14');
  await admin.getByLabel('Messages', { exact: true }).check();
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await admin.getByRole('status').filter({ hasText: 'parental_record_access_review_age' }).waitFor();
  await admin.getByLabel('Age at which parents’ record access is reviewed').fill('11');
  await admin.getByRole('button', { name: 'Save settings' }).click();
  await admin.getByRole('status').filter({ hasText: 'Settings saved' }).waitFor();
  assert.equal(await messages(), true);
});

test('every console page has one h1 naming it and no serious accessibility violation', async () => {
  const visitor = await pageWithAuthenticator(browser);
  const pages = [
    [visitor, '/practice/', 'Sign in'],
    [visitor, '/practice/enrol', 'Enrol'],
    [clinician, '/practice/review', 'Review queue'],
    [clinician, '/practice/review?status=released', 'Review queue'],
    [admin, '/practice/patients', 'Find a patient'],
    [admin, `/practice/patients/${subject.id}`, `Patient: ${subject.demo.given_name} ${subject.demo.family_name}`],
    [admin, '/practice/proxies', 'Proxy access'],
    [admin, `/practice/proxies?patient=${subject.id}`, 'Proxy access'],
    [admin, '/practice/appointments', 'Appointments'],
    [clinician, '/practice/prescriptions', 'Prescriptions'],
    [clinician, '/practice/messages', 'Messages'],
    [admin, '/practice/access-requests', 'Record access requests'],
    [admin, '/practice/settings', 'Settings'],
    [admin, '/practice/uptake', 'Uptake'],
    [admin, '/practice/audit', 'Audit'],
  ];
  const problems = [];
  for (const [page, path, heading] of pages) {
    await page.goto(`${server.origin}${path}`);
    await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
    await page.waitForLoadState('networkidle');
    assert.equal(await page.locator('h1').count(), 1, `${path}: one h1`);
    for (const violation of await seriousViolations(page)) problems.push(`${path}: ${violation}`);
    if (path === '/practice/uptake') {
      await page.locator('figure.chart svg').first().waitFor();
      await page.screenshot({ path: join(artefacts, 'uptake.png'), fullPage: true });
    }
  }
  assert.deepEqual(problems, []);
});

test('the uptake page shows the registered share against the target, month by month, and as CSV', async () => {
  const report = (await call(server.origin, await consoleToken(admin), 'GET', '/api/v1/practice/uptake')).body;
  assert.ok(report.registered_patients >= 2, 'the patients registered in these tests count');
  await admin.goto(`${server.origin}/practice/uptake`);
  await admin.getByText(`${report.registered_patients} of ${report.patients} patients`).waitFor();
  assert.equal(await admin.locator('figure.chart').count(), 7);
  const download = admin.waitForEvent('download');
  await admin.getByRole('button', { name: 'Download CSV' }).click();
  const file = await download;
  const csv = await (await import('node:fs/promises')).readFile(await file.path(), 'utf8');
  const lines = csv.trim().split('\r\n');
  assert.match(lines[0], /^month,registered_patients,registered_percent,/);
  assert.equal(lines.length, 1 + report.months.length);
});

test('the audit page lists what staff did, filtered by action', async () => {
  await admin.goto(`${server.origin}/practice/audit?action=proxy.`);
  await admin.getByRole('heading', { level: 1, name: 'Audit' }).waitFor();
  await admin.locator('tbody td code').first().waitFor();
  const actions = await admin.locator('tbody td:nth-child(2)').allTextContents();
  assert.ok(actions.length > 0 && actions.every((a) => a.startsWith('proxy.')), actions.join(', '));
  assert.ok(actions.includes('proxy.grant'), actions.join(', '));
});
