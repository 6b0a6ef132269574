// The world the console tests run in: the real gp-online binary serving the demo practice from
// a temporary data directory on a free port of localhost (the passkey relying party is
// `localhost`, so the origin is https://localhost:PORT), two invited staff members, Debian's
// Chromium driven by playwright-core, and a WebAuthn virtual authenticator per page.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repository = resolve(here, '..');
/** Where screenshots and the server's log are kept (never committed). */
export const artefacts = join(repository, 'target', 'console-tests');
const binary = process.env.GP_ONLINE_BIN || join(repository, 'target', 'debug', 'gp-online');
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';

// The server's certificate is the self-signed development one: the test's own API calls and
// the browser accept it; nothing else does.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

async function until(check, what, seconds = 60) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      if (await check()) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts the server with the demo practice; answers what the tests need to know. */
export async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gp-online-console-'));
  const port = await freePort();
  const origin = `https://localhost:${port}`;
  const config = join(dataDir, 'gp-online.toml');
  writeFileSync(config, [
    '[server]', `listen = "127.0.0.1:${port}"`, `data_dir = "${dataDir}"`,
    '[identity]', `rp_origins = ["${origin}"]`,
    '[log]', 'filter = "warn"', '',
  ].join('\n'));
  const run = (...args) => execFileSync(binary, ['--config', config, ...args], { encoding: 'utf8' });
  const demo = JSON.parse(run('demo', '--json'));
  const invite = (role, name) => {
    const printed = run('staff', 'invite', '--practice', demo.practice.ods_code, '--role', role, '--name', name);
    return /: (\S+)\n/.exec(printed)[1];
  };
  const staff = {
    clinician: { name: 'Dr Rhea Shah', code: invite('clinician', 'Dr Rhea Shah') },
    admin: { name: 'Sam Okafor', code: invite('admin', 'Sam Okafor') },
  };
  mkdirSync(artefacts, { recursive: true });
  const log = openSync(join(artefacts, 'server.log'), 'w');
  const child = spawn(binary, ['--config', config, 'serve'], { stdio: ['ignore', log, log] });
  await until(async () => (await fetch(`${origin}/healthz`)).ok, 'the server to answer');
  return {
    origin, demo, staff,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, with the flags this machine's closed network needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A fresh browser context and page with its own virtual platform authenticator (CTAP2,
 * internal transport, resident keys, user verification that always succeeds).
 */
export async function pageWithAuthenticator(browser) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const devtools = await context.newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  const { authenticatorId } = await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  page.credentials = async () => (await devtools.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  return page;
}

/** A JSON API call from the test itself (a patient's phone, or staff checking an answer). */
export async function call(origin, token, method, path, body) {
  const response = await fetch(`${origin}${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** The staff access token the console keeps in this page's session storage. */
export function consoleToken(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('gp-online.console.session')).access);
}

/**
 * Registers a demo patient the way their phone would, with a passkey from this page's virtual
 * authenticator and the console's own WebAuthn helpers; answers their tokens.
 */
export async function registerPatient(page, origin, patient) {
  await page.goto(`${origin}/practice/enrol`);
  return page.evaluate(async (details) => {
    const { createPasskey } = await import('/practice/assets/passkey.js');
    const post = async (path, body) => {
      const response = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      return response.json();
    };
    const start = await post('/api/v1/registration/begin', details);
    const credential = await createPasskey(start.public_key);
    return post('/api/v1/registration/finish', { ceremony_id: start.ceremony_id, credential, device_name: 'Test phone' });
  }, {
    account_id: patient.account_id, linkage_key: patient.linkage_key, ods_code: patient.ods_code,
    surname: patient.family_name, date_of_birth: patient.date_of_birth,
  });
}

/** axe-core's source, from node_modules (never from the network). */
export const axeSource = readFileSync(join(repository, 'console-tests', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** Serious and critical accessibility violations on the page as it is now. */
export async function seriousViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
}
