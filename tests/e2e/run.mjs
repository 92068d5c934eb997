// End-to-end test of bff-gateway: a real OpenID provider (oidc-provider), a contacts API that
// introspects its Bearer tokens, a static SPA, the release gateway in front of both, and headless
// Chromium clicking through login, API calls, a token refresh, CSRF and logout.
//
//   node run.mjs            (tests/e2e/run installs what is missing, then runs this)
//
// Env: BFF_GATEWAY_BIN (default ../../target/release/bff-gateway), E2E_TIMEOUT_MS (120000),
//      CHROMIUM (default /usr/bin/chromium).
// Artifacts (tests/e2e/artifacts/): contacts.png, gateway.log, provider.log, gateway.check.txt,
//      failure.png on failure.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startResourceServer, tokenHash } from './resource-server.mjs';
import {
  ACCESS_TOKEN_TTL, CLIENT_ID, CLIENT_SECRET, DEMO_LOGIN, DEMO_PASSWORD, DEMO_USER,
} from './fixtures.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GATEWAY_BIN = path.resolve(process.env.BFF_GATEWAY_BIN || path.join(HERE, '../../target/release/bff-gateway'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const OVERALL_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 120_000);
const REFRESH_SKEW_S = 1;
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Children and the browser must reach only our local servers.
for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) {
  delete process.env[k];
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping: children by PID, in-process servers, the browser, logs.

const children = []; // { name, proc, exited: Promise }
const closers = []; // async () => void
let browser;
let page;
let finished = false;
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(6);
const out = (line) => process.stdout.write(`${line}\n`);

fs.mkdirSync(ARTIFACTS, { recursive: true });
const LOG = {
  gateway: path.join(ARTIFACTS, 'gateway.log'),
  provider: path.join(ARTIFACTS, 'provider.log'),
};
for (const file of Object.values(LOG)) fs.writeFileSync(file, '');
fs.rmSync(path.join(ARTIFACTS, 'failure.png'), { force: true });

function spawnChild(name, cmd, args, { env, logFile, onLine } = {}) {
  const fd = fs.openSync(logFile, 'a');
  const proc = spawn(cmd, args, {
    cwd: HERE,
    env: { ...process.env, ...env },
    stdio: ['ignore', onLine ? 'pipe' : fd, fd],
  });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (error) => resolve({ code: -1, error }));
  });
  if (onLine) {
    let buf = '';
    proc.stdout.on('data', (chunk) => {
      fs.writeSync(fd, chunk);
      buf += chunk.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine(line);
      }
    });
  }
  const child = { name, proc, exited, fd };
  children.push(child);
  return child;
}

async function stopChild(child) {
  const { proc, exited } = child;
  if (proc.exitCode === null && proc.signalCode === null && proc.pid) {
    try { process.kill(proc.pid, 'SIGTERM'); } catch { /* gone */ }
    const done = await Promise.race([exited.then(() => true), sleep(4000).then(() => false)]);
    if (!done) {
      try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
      await Promise.race([exited, sleep(2000)]);
    }
  }
  try { fs.closeSync(child.fd); } catch { /* closed */ }
}

async function cleanup() {
  if (browser) {
    const b = browser;
    browser = undefined;
    await Promise.race([b.close().catch(() => {}), sleep(5000)]);
  }
  for (const close of closers.splice(0).reverse()) {
    await Promise.race([close().catch(() => {}), sleep(2000)]);
  }
  for (const child of children.slice().reverse()) await stopChild(child);
}

// Last resort if the process goes down some other way: no orphan may survive us.
// (playwright-core kills the browser's process group on exit by itself.)
process.on('exit', () => {
  for (const { proc } of children) {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid) {
      try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
});

function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch (error) {
    return `(cannot read ${file}: ${error.message})`;
  }
}

async function fail(reason) {
  if (finished) return;
  finished = true;
  out(`\nFAIL: ${reason}`);
  if (page) {
    try {
      const at = new URL(page.url());
      out(`  browser at: ${at.origin}${at.pathname}${at.search ? '?…' : ''}`);
      const text = await Promise.race([page.evaluate(() => document.body?.innerText ?? ''), sleep(2000).then(() => '(no answer)')]);
      out(`  page text: ${String(text).replace(/\s+/g, ' ').slice(0, 400)}`);
      await Promise.race([page.screenshot({ path: path.join(ARTIFACTS, 'failure.png') }), sleep(3000)]);
      out(`  screenshot: ${path.relative(process.cwd(), path.join(ARTIFACTS, 'failure.png'))}`);
    } catch { /* page gone */ }
  }
  out(`\n----- gateway log (last 40 lines of ${path.relative(process.cwd(), LOG.gateway)}) -----`);
  out(tail(LOG.gateway));
  out(`\n----- provider log (last 40 lines of ${path.relative(process.cwd(), LOG.provider)}) -----`);
  out(tail(LOG.provider));
  out('-----');
  await cleanup();
  process.exit(1);
}

const overall = setTimeout(() => {
  fail(`overall timeout of ${OVERALL_TIMEOUT_MS / 1000}s exceeded`);
}, OVERALL_TIMEOUT_MS);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => fail(`received ${signal}`));
}
process.on('unhandledRejection', (error) => fail(`unhandled rejection: ${error?.stack || error}`));

// ---------------------------------------------------------------------------------------------
// Helpers.

function sleep(ms) {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}

class StepError extends Error {}

function check(condition, message, detail) {
  if (!condition) {
    throw new StepError(detail === undefined ? message : `${message}\n    got: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
}

let stepNo = 0;
async function step(title, fn) {
  stepNo += 1;
  const n = String(stepNo).padStart(2);
  const started = Date.now();
  try {
    const note = await fn();
    out(`[${since()}] PASS ${n}. ${title}${note ? ` — ${note}` : ''} (${Date.now() - started} ms)`);
  } catch (error) {
    out(`[${since()}] FAIL ${n}. ${title}`);
    await fail(error instanceof StepError ? error.message : (error?.stack || String(error)));
  }
}

function note(text) {
  out(`[${since()}] NOTE ${text}`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function httpGet(url, headers = {}) {
  const res = await fetch(url, { headers, redirect: 'manual' });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

async function waitFor(what, probe, { timeoutMs = 20_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last?.ok) return last;
    } catch (error) {
      if (error instanceof StepError) throw error;
      last = { error: error.message };
    }
    await sleep(intervalMs);
  }
  throw new StepError(`timed out after ${timeoutMs / 1000}s waiting for ${what}; last: ${JSON.stringify(last)}`);
}

// ---------------------------------------------------------------------------------------------
// The static SPA server (the gateway's `/` route, auth: none). Records the cookies it receives.
// It also serves `/account`, a page behind an `auth: required` route of its own: the SPA's login
// returns there, so the first document after the callback must come with the session.

const SPA_FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
};

async function startStaticServer() {
  const seen = { requests: 0, gatewayCookies: [], account: [] };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://spa.local');
    // Probe for the cookie finding (talked to directly, not through the gateway).
    if (url.pathname === '/__cookie-probe/set') {
      res.writeHead(200, {
        'set-cookie': '__Host-e2e-probe=1; Path=/; Secure; HttpOnly; SameSite=Strict',
        'content-type': 'text/plain',
      });
      res.end('probe set');
      return;
    }
    seen.requests += 1;
    const names = (req.headers.cookie || '').split(';').map((c) => c.trim().split('=')[0]).filter(Boolean);
    seen.gatewayCookies.push(...names.filter((n) => n.startsWith('__Host-bff') || n.startsWith('bff')));
    if (url.pathname === '/account' && req.method === 'GET') {
      // Behind `auth: required` + `token: access_token`: the gateway sends a Bearer only when
      // the navigation carried a valid session cookie (the page never shows the token).
      const signedIn = /^Bearer \S+$/.test(req.headers.authorization || '');
      seen.account.push({ signedIn });
      res.writeHead(signedIn ? 200 : 401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(signedIn
        ? '<!doctype html><meta charset="utf-8"><title>Account</title><h1 id="account">Your account (signed in)</h1><p><a id="to-app" href="/">Back to the contacts</a></p>'
        : '<!doctype html><meta charset="utf-8"><title>No token</title><h1 id="no-token">No Bearer token</h1>');
      return;
    }
    const file = SPA_FILES[url.pathname];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file) {
      res.writeHead(url.pathname === '/favicon.ico' ? 204 : 404, { 'content-type': 'text/plain' });
      res.end();
      return;
    }
    const body = fs.readFileSync(path.join(HERE, 'spa', file[0]));
    res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  closers.push(() => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }));
  return { port: server.address().port, seen };
}

// ---------------------------------------------------------------------------------------------
// The test.

out(`bff-gateway end-to-end test (oidc-provider + headless Chromium)`);
out(`  gateway binary: ${GATEWAY_BIN}`);
if (!fs.existsSync(GATEWAY_BIN)) {
  await fail(`gateway binary not found: ${GATEWAY_BIN} (cd /work/main && cargo build --release --bin bff-gateway, or set BFF_GATEWAY_BIN)`);
}

let gwPort;
let adminPort;
let GW;
let ISSUER;
let discovery;
let provider;
let rs;
let RS;
let spa;
let secureCookiesWork;
let sessionKey;
let configPath;
let gatewayEnv;
let COOKIE;
let gateway;
const providerState = async () => (await httpGet(`${ISSUER}/__e2e/state`)).json;
const rsSeen = async () => (await httpGet(`${RS}/_seen`)).json;

await step('provider (oidc-provider) starts and serves discovery', async () => {
  gwPort = await freePort();
  adminPort = await freePort();
  GW = `http://127.0.0.1:${gwPort}`;
  let providerReady;
  const providerReadyP = new Promise((resolve) => { providerReady = resolve; });
  provider = spawnChild('provider', process.execPath, ['provider.mjs', '--gateway-port', String(gwPort)], {
    logFile: LOG.provider,
    onLine: (line) => {
      if (line.startsWith('{"ready":true')) providerReady(JSON.parse(line));
    },
  });
  const ready = await Promise.race([
    providerReadyP,
    provider.exited.then((r) => ({ exited: r })),
    sleep(20_000).then(() => ({ timeout: true })),
  ]);
  check(ready.issuer, 'provider did not start', ready);
  ISSUER = ready.issuer;
  discovery = (await httpGet(`${ISSUER}/.well-known/openid-configuration`)).json;
  check(discovery?.issuer === ISSUER, 'discovery should name the issuer', discovery?.issuer);
  for (const k of ['introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
    check(discovery[k], `discovery should announce ${k}`);
  }
  return `${ISSUER} (pid ${provider.proc.pid})`;
});

await step('resource server (contacts API) and SPA server start', async () => {
  rs = await startResourceServer({ issuer: ISSUER, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  closers.push(rs.close);
  RS = `http://127.0.0.1:${rs.port}`;
  spa = await startStaticServer();
  return `API ${RS}, SPA http://127.0.0.1:${spa.port}`;
});

// The cookie finding: does Chromium keep a `__Host-` + `Secure` cookie set over plain
// http://127.0.0.1? (127.0.0.1 is a potentially trustworthy origin.) If not, the gateway must run
// with session.dev_insecure_cookies.
await step('Chromium starts; cookie probe: are "__Host-" + Secure cookies kept on http://127.0.0.1?', async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    // Signals are handled here, so that the provider and the gateway are stopped too.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  const probe = await browser.newContext();
  const p = await probe.newPage();
  await p.goto(`http://127.0.0.1:${spa.port}/__cookie-probe/set`);
  const kept = (await probe.cookies(`http://127.0.0.1:${spa.port}`)).find((c) => c.name === '__Host-e2e-probe');
  secureCookiesWork = Boolean(kept?.secure && kept?.httpOnly);
  await probe.close();
  COOKIE = secureCookiesWork ? '__Host-bff' : 'bff';
  return `Chromium ${browser.version()} ${secureCookiesWork
    ? 'KEEPS them → gateway runs with its default __Host-bff Secure cookies'
    : 'DROPS them → gateway runs with session.dev_insecure_cookies: true'}`;
});

await step('gateway config written and valid (`bff-gateway check`, secrets redacted)', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bff-e2e-'));
  closers.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));
  sessionKey = execFileSync(GATEWAY_BIN, ['keygen'], { encoding: 'utf8' }).trim();
  check(Buffer.from(sessionKey, 'base64').length === 32, '`bff-gateway keygen` should print 32 bytes of base64', sessionKey.length);
  configPath = path.join(tmp, 'gateway.yaml');
  fs.writeFileSync(configPath, `# Written by tests/e2e/run.mjs
server:
  listen: "127.0.0.1:${gwPort}"
  admin_listen: "127.0.0.1:${adminPort}"
  public_url: "${GW}"
  shutdown_grace: 2s
oauth:
  issuer: "${ISSUER}"
  allow_http_provider: true
  client_id: ${CLIENT_ID}
  client_secret: "\${E2E_CLIENT_SECRET}"
  client_auth_method: client_secret_basic
  scopes: [openid, profile, email, offline_access, contacts]
  timeout: 5s
session:
  keys: ["\${E2E_SESSION_KEY}"]
  refresh_skew: ${REFRESH_SKEW_S}s
${secureCookiesWork ? '' : '  dev_insecure_cookies: true\n'}auth:
  path_prefix: /auth
  default_return_to: /
  post_logout_redirect: /
routes:
  - name: api
    path: /api
    upstream: "${RS}"
    strip_prefix: true
    auth: required
    timeout: 10s
  - name: account
    path: /account
    upstream: "http://127.0.0.1:${spa.port}"
    auth: required
    # A page load cannot carry the CSRF header.
    csrf: false
  - name: spa
    path: /
    upstream: "http://127.0.0.1:${spa.port}"
    auth: none
`);
  gatewayEnv = {
    E2E_CLIENT_SECRET: CLIENT_SECRET,
    E2E_SESSION_KEY: sessionKey,
    // Debug for every crate, trace for the gateway: even then no token, code or state is logged
    // (checklist K6, B6).
    RUST_LOG: 'debug,bff_gateway=trace',
    NO_PROXY: '*',
  };
  let text;
  try {
    text = execFileSync(GATEWAY_BIN, ['--config', configPath, 'check'], {
      env: { ...process.env, ...gatewayEnv }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    throw new StepError(`bff-gateway check failed (exit ${error.status}):\n${error.stdout}${error.stderr}`);
  }
  fs.writeFileSync(path.join(ARTIFACTS, 'gateway.check.txt'), text);
  check(!text.includes(CLIENT_SECRET) && !text.includes(sessionKey), 'check output must redact the client secret and session keys');
  return `${configPath}; effective config in artifacts/gateway.check.txt`;
});

await step('gateway starts and is ready (admin /readyz = 200 only after OIDC discovery)', async () => {
  gateway = spawnChild('gateway', GATEWAY_BIN, ['--config', configPath, '--log-format', 'json', 'run'], {
    env: gatewayEnv,
    logFile: LOG.gateway,
  });
  let exited;
  gateway.exited.then((r) => { exited = r; });
  await waitFor('gateway /readyz', async () => {
    if (exited) throw new StepError(`gateway exited early: ${JSON.stringify(exited)}`);
    const r = await httpGet(`http://127.0.0.1:${adminPort}/readyz`);
    return { ok: r.status === 200, status: r.status };
  }, { timeoutMs: 20_000 });
  check(fs.readFileSync(LOG.gateway, 'utf8').includes('provider discovery done'), 'the gateway should log its discovery');
  return `${GW} (pid ${gateway.proc.pid}, admin 127.0.0.1:${adminPort})`;
});

// ---------------------------------------------------------------------------------------------
// Browser flow.

const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
context.setDefaultTimeout(15_000);
context.setDefaultNavigationTimeout(20_000);
page = await context.newPage();
page.on('pageerror', (error) => out(`  (page error: ${error.message})`));

// Everything JavaScript on the gateway's origin could read: bodies of documents, scripts and
// fetch/XHR answers.
const jsVisible = [];
const pendingBodies = [];
page.on('response', (response) => {
  const request = response.request();
  if (!response.url().startsWith(`${GW}/`)) return;
  const type = request.resourceType();
  if (!['document', 'script', 'fetch', 'xhr', 'stylesheet'].includes(type)) return;
  const entry = { url: response.url(), status: response.status(), type, body: '' };
  jsVisible.push(entry);
  pendingBodies.push(response.text().then((t) => { entry.body = t; }, () => {}));
});
const authorizeRequests = [];
page.on('request', (request) => {
  if (request.url().startsWith(discovery.authorization_endpoint)) authorizeRequests.push(request.url());
});

const apiCalls = async () => Number(await page.getAttribute('#status', 'data-calls'));
async function clickGetContacts() {
  const before = await apiCalls();
  await page.click('#get-contacts');
  await page.waitForFunction((n) => Number(document.querySelector('#status').dataset.calls) > n, before);
  return (await page.textContent('#status')).trim();
}
const jar = async () => context.cookies(GW);
const sessionCookie = async () => (await jar()).find((c) => c.name === COOKIE);

let loginAt;
let firstTokenHash;

await step('SPA loads through the gateway (route `/`, auth: none) and shows "Not signed in"', async () => {
  const response = await page.goto(`${GW}/`);
  check(response.status() === 200, 'GET / should be 200', response.status());
  await page.waitForSelector('#user[data-state="signed-out"]');
  check(await page.isVisible('#login'), 'the Login link should be visible when signed out');
  return `${await page.textContent('#user')}`;
});

await step('before login: Get contacts → 401 from the gateway, nothing reaches the API', async () => {
  const status = await clickGetContacts();
  check(status.startsWith('401'), 'expected 401 before login', status);
  const seen = await rsSeen();
  check(seen.requests.length === 0, 'the API must not be called without a session', seen.requests);
  return status;
});

// checklist A1, A3, A4, A5, A7: the real login starts at a cross-site provider; its login
// cookie must be SameSite=Lax to come back on the provider's cross-site redirect.
await step('Login link (return_to=/account) → /auth/login → 302 to the provider\'s authorize endpoint (code + PKCE S256 + state + nonce)', async () => {
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${ISSUER}/interaction/`)),
    page.click('#login'),
  ]);
  check(authorizeRequests.length === 1, 'expected one authorization request', authorizeRequests);
  const q = new URL(authorizeRequests[0]).searchParams;
  const want = {
    response_type: 'code', client_id: CLIENT_ID, redirect_uri: `${GW}/auth/callback`, code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(want)) check(q.get(k) === v, `authorize ${k} should be ${v}`, q.get(k));
  check((q.get('state') || '').length >= 43, 'state should carry >= 256 bits', q.get('state'));
  check((q.get('code_challenge') || '').length === 43, 'code_challenge should be a S256 challenge', q.get('code_challenge'));
  check(Boolean(q.get('nonce')), 'nonce should be sent for openid');
  const scopes = (q.get('scope') || '').split(' ');
  for (const s of ['openid', 'profile', 'email', 'offline_access', 'contacts']) check(scopes.includes(s), `scope should include ${s}`, q.get('scope'));
  const login = (await jar()).filter((c) => c.name.startsWith(`${COOKIE}-login-`));
  check(login.length === 1, 'one login-transaction cookie should be set', await jar());
  check(login[0].httpOnly && login[0].sameSite === 'Lax' && login[0].secure === secureCookiesWork,
    'login cookie should be HttpOnly, SameSite=Lax, Secure', login[0]);
  return `at ${new URL(page.url()).pathname}`;
});

await step('provider login page: sign in with the demo credentials', async () => {
  await page.fill('#login', DEMO_LOGIN);
  await page.fill('#password', DEMO_PASSWORD);
  await Promise.all([page.waitForSelector('#allow'), page.click('#sign-in')]);
  const scopes = await page.$$eval('#scopes li', (lis) => lis.map((li) => li.textContent));
  check(scopes.includes('contacts') && scopes.includes('openid'), 'consent should list openid and contacts', scopes);
  return `consent asks for: ${scopes.join(' ')}${scopes.includes('offline_access') ? '' : ' (oidc-provider dropped offline_access: no prompt=consent)'}`;
});

const callbackSecrets = [];
// checklist A7: the Lax login cookie came back on the provider's cross-site redirect (the user
// had to sign in and consent at the provider: no silent login). Issue 3: the first page after
// login is signed in: the callback's same-origin continue page navigates to `return_to`, an
// `auth: required` page, and that navigation carries the SameSite=Strict session cookie (a
// plain 302 continuing the provider's cross-site chain would not, and the gateway would send
// the browser back to the login).
await step('consent → /auth/callback (code exchange, ID token validated) → first document after it: the auth: required /account page, 200 and signed in', async () => {
  const callback = page.waitForResponse((r) => r.url().startsWith(`${GW}/auth/callback`));
  const firstAfter = page.waitForResponse((r) => r.request().isNavigationRequest()
    && r.url().startsWith(`${GW}/`) && !r.url().startsWith(`${GW}/auth/callback`));
  await page.click('#allow');
  const cb = await callback;
  loginAt = Date.now();
  const cbParams = new URL(cb.url()).searchParams;
  callbackSecrets.push(cbParams.get('code'), cbParams.get('state'));
  const cbBody = await cb.text().catch(() => '');
  check(cb.status() === 200, `/auth/callback should answer 200 (continue page); body: ${cbBody.slice(0, 300)}`, cb.status());
  const next = await firstAfter;
  check(next.url() === `${GW}/account`, 'the first document after the callback should be return_to (/account)', next.url());
  check(next.request().redirectedFrom() === null, 'the /account navigation should come from the continue page, not a redirect', next.request().redirectedFrom()?.url());
  const sentCookies = (await next.request().allHeaders()).cookie || '';
  check(sentCookies.split(/;\s*/).some((c) => c.startsWith(`${COOKIE}=`)), `the navigation after the callback should carry the SameSite=Strict ${COOKIE} cookie`, sentCookies.split(/;\s*/).map((c) => c.split('=')[0]));
  const nextBody = await next.text().catch(() => '');
  check(next.status() === 200 && nextBody.includes('id="account"'), '/account should be the signed-in page (200), not a login redirect or 401', `${next.status()} ${nextBody.slice(0, 200)}`);
  check(spa.seen.account.length === 1 && spa.seen.account[0].signedIn, 'the /account upstream should have got one request, with a Bearer', spa.seen.account);
  await page.waitForSelector('#account');
  await Promise.all([page.waitForURL(`${GW}/`), page.click('#to-app')]);
  await page.waitForSelector('#user[data-state="signed-in"]');
  const text = await page.textContent('#user');
  check(text.includes(DEMO_USER.name), `the SPA should show the user's name from /auth/session (${DEMO_USER.name})`, text);
  const state = await providerState();
  check(state.grants.authorization_code === 1, 'the provider should have redeemed exactly one code', state.grants);
  check(state.tokens.refresh_token.length === 1, 'the provider should have issued a refresh token (offline_access)', state.tokens.refresh_token.length);
  return text;
});

// checklist S1, B2
await step(`session cookie ${COOKIE}: HttpOnly, Secure, SameSite=Strict, Path=/, host-only; login cookie cleared`, async () => {
  const cookies = await jar();
  const s = cookies.find((c) => c.name === COOKIE);
  check(s, `no ${COOKIE} cookie in the jar`, cookies.map((c) => c.name));
  callbackSecrets.push(s.value);
  check(s.httpOnly && s.sameSite === 'Strict' && s.path === '/' && s.secure === secureCookiesWork,
    'session cookie attributes', s);
  check(s.domain === '127.0.0.1', 'session cookie must be host-only', s.domain);
  check(!cookies.some((c) => c.name.startsWith(`${COOKIE}-login-`)), 'the login cookie should be gone after the callback', cookies.map((c) => c.name));
  return `${s.value.length} bytes sealed`;
});

// checklist S1: CHROME `document.cookie` contains no gateway cookie.
await step('document.cookie does not expose the session cookie (HttpOnly)', async () => {
  const visible = await page.evaluate(() => document.cookie);
  check(!/(^|;\s*)(__Host-)?bff/.test(visible), 'document.cookie shows a gateway cookie', visible);
  check(visible.includes('spa_pref=compact'), 'the SPA\'s own cookie should be visible to it', visible);
  return `document.cookie = "${visible}"`;
});

// checklist S9
await step('/auth/session JSON: authenticated, profile claims, no tokens', async () => {
  const r = await page.evaluate(async () => {
    const res = await fetch('/auth/session');
    return { status: res.status, body: await res.json() };
  });
  check(r.status === 200 && r.body.authenticated === true, '/auth/session should be 200 authenticated', r);
  check(r.body.claims?.sub === DEMO_USER.sub && r.body.claims?.email === DEMO_USER.email, 'claims should carry sub and email', r.body.claims);
  const keys = JSON.stringify(r.body);
  check(!/access_token|refresh_token|id_token|"at"|"rt"|"idt"/.test(keys), '/auth/session must not return tokens', r.body);
  return `claims: ${Object.keys(r.body.claims).join(', ')}`;
});

await step('Get contacts → contacts rendered (gateway injected Bearer; API introspected it at the provider)', async () => {
  const status = await clickGetContacts();
  check(status === '200', 'expected 200 from /api/contacts', status);
  const items = await page.$$eval('#contacts li', (lis) => lis.map((li) => li.textContent));
  check(items.length === 3 && items[0].includes('Grace Hopper'), 'three contacts should be listed', items);
  const seen = await rsSeen();
  const last = seen.requests.at(-1);
  check(last.path === '/contacts', 'strip_prefix: the API should see /contacts', last.path);
  check(last.bearer && last.active && last.sub === DEMO_USER.sub && last.client_id === CLIENT_ID, 'the API should get an active Bearer token for the demo user', last);
  const state = await providerState();
  firstTokenHash = last.token_hash;
  check(firstTokenHash === tokenHash(state.tokens.access_token[0]), 'the Bearer should be the access token from the code exchange');
  check(last.leaked_gateway_cookies.length === 0, 'gateway cookies reached the API', last.cookies);
  check(last.cookies.includes('spa_pref'), 'ordinary first-party cookies should still be forwarded', last.cookies);
  await page.screenshot({ path: path.join(ARTIFACTS, 'contacts.png'), fullPage: true });
  return `${items.length} contacts; screenshot artifacts/contacts.png`;
});

await step('CSRF: fetch(\'/api/contacts\') without X-CSRF → 403 {"error":"csrf"}, never reaches the API', async () => {
  const before = (await rsSeen()).requests.length;
  const r = await page.evaluate(async () => {
    const res = await fetch('/api/contacts');
    return { status: res.status, body: await res.text() };
  });
  check(r.status === 403, 'expected 403 without the CSRF header', r);
  check(JSON.parse(r.body).error === 'csrf', 'expected error "csrf"', r.body);
  const after = (await rsSeen()).requests.length;
  check(after === before, 'the refused request must not reach the API', { before, after });
  return `403 ${r.body}`;
});

await step(`refresh: wait past the access-token TTL (${ACCESS_TOKEN_TTL}s), Get contacts still works`, async () => {
  const refreshesBefore = (await providerState()).grants.refresh_token || 0;
  const cookieBefore = (await sessionCookie())?.value;
  const waitMs = Math.max(0, loginAt + (ACCESS_TOKEN_TTL + 1) * 1000 - Date.now());
  out(`         … waiting ${(waitMs / 1000).toFixed(1)}s for the access token to expire`);
  await sleep(waitMs);
  const apiResponse = page.waitForResponse((r) => r.url() === `${GW}/api/contacts`);
  const status = await clickGetContacts();
  check(status === '200', 'expected 200 after the access token expired', status);
  const setCookie = await (await apiResponse).headerValue('set-cookie');
  const state = await providerState();
  const refreshes = state.grants.refresh_token || 0;
  check(refreshes === refreshesBefore + 1, 'the gateway should have used the refresh token once at the provider', state.grants);
  check((state.events['refresh_token.consumed'] || 0) >= 1, 'the rotated refresh token should be consumed', state.events);
  const last = (await rsSeen()).requests.at(-1);
  check(last.active && last.token_hash !== firstTokenHash, 'the API should get a new, active access token', last);
  check(last.token_hash === tokenHash(state.tokens.access_token.at(-1)), 'the Bearer should be the refreshed access token');
  check(setCookie && setCookie.includes(`${COOKIE}=`), 'the API response should carry the updated session cookie', setCookie);
  const cookieAfter = (await sessionCookie())?.value;
  check(cookieAfter && cookieAfter !== cookieBefore, 'the browser should store the updated session cookie');
  return `grant_type=refresh_token at the provider: ${refreshes}`;
});

await step('after the refresh the new cookie is used: another call needs no refresh', async () => {
  const refreshesBefore = (await providerState()).grants.refresh_token || 0;
  const status = await clickGetContacts();
  check(status === '200', 'expected 200', status);
  const state = await providerState();
  check((state.grants.refresh_token || 0) === refreshesBefore, 'no further refresh expected', state.grants);
  const last = (await rsSeen()).requests.at(-1);
  check(last.token_hash === tokenHash(state.tokens.access_token.at(-1)), 'the API should get the refreshed token again');
  return 'same refreshed token';
});

let logoutUrl;
let jsLogoutUrl;
// checklist O1, O2, O4: RP-initiated logout with id_token_hint, client_id, the configured
// post_logout_redirect_uri and a random state, bound to this browser by a SameSite=Lax cookie
// and checked when the provider sends the browser back to /auth/logout/done.
await step('Log out → POST /auth/logout (X-CSRF, Accept: JSON) → {logout_url} → provider sign-out (state) → /auth/logout/done checks it → back at the SPA', async () => {
  const logoutResponse = page.waitForResponse((r) => r.url() === `${GW}/auth/logout`);
  // The SPA navigates to exactly the JSON's logout_url (the body itself is gone once it has):
  // a sealed hop through the gateway, which redirects to the provider's end-session endpoint.
  const hop = page.waitForRequest((r) => r.url().startsWith(`${GW}/auth/logout/continue?t=`) && r.isNavigationRequest());
  const endSession = page.waitForRequest((r) => r.url().startsWith(discovery.end_session_endpoint) && r.isNavigationRequest());
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(discovery.end_session_endpoint)),
    page.click('#logout'),
  ]);
  const lr = await logoutResponse;
  check(lr.status() === 200 && lr.request().method() === 'POST', 'POST /auth/logout should be 200', lr.status());
  check((await lr.headerValue('content-type'))?.startsWith('application/json'), 'logout answer should be JSON', await lr.headerValue('content-type'));
  check(/__Host-bff=;|bff=;/.test(await lr.headerValue('set-cookie') || ''), 'logout answer should clear the session cookie', await lr.headerValue('set-cookie'));
  jsLogoutUrl = (await hop).url();
  logoutUrl = (await endSession).url();
  const u = new URL(logoutUrl);
  check(`${u.origin}${u.pathname}` === discovery.end_session_endpoint, 'logout_url should be the provider\'s end_session_endpoint', logoutUrl.split('?')[0]);
  check(u.searchParams.get('post_logout_redirect_uri') === `${GW}/auth/logout/done`, 'post_logout_redirect_uri should be the gateway\'s /auth/logout/done', u.searchParams.get('post_logout_redirect_uri'));
  check(u.searchParams.get('client_id') === CLIENT_ID, 'client_id should be sent', u.searchParams.get('client_id'));
  check(Boolean(u.searchParams.get('id_token_hint')), 'id_token_hint should be sent');
  const logoutState = u.searchParams.get('state') || '';
  callbackSecrets.push(logoutState);
  check(logoutState.length >= 43, 'the end-session request should carry a state of >= 256 bits', logoutState.length);
  check(!(await sessionCookie()), 'the session cookie should be cleared by the logout response', await jar());
  const pending = (await jar()).find((c) => c.name === `${COOKIE}-login-logout`);
  check(pending && pending.httpOnly && pending.sameSite === 'Lax' && pending.secure === secureCookiesWork,
    'the logout state should wait in an HttpOnly, SameSite=Lax cookie', pending);
  const done = page.waitForResponse((r) => r.url().startsWith(`${GW}/auth/logout/done`));
  await Promise.all([page.waitForURL(`${GW}/`), page.click('#logout-yes')]);
  const dr = await done;
  const back = new URL(dr.url());
  check(back.searchParams.get('state') === logoutState, 'the provider should send the same state back', back.search ? 'another state' : 'no state');
  check(dr.status() === 302 && (await dr.headerValue('location')) === '/', '/auth/logout/done should redirect to auth.post_logout_redirect', `${dr.status()} ${await dr.headerValue('location')}`);
  check(((await dr.headerValue('set-cookie')) || '').includes(`${COOKIE}-login-logout=;`), 'a matching state should spend the logout cookie (so it came back: Lax)', await dr.headerValue('set-cookie'));
  check(!(await jar()).some((c) => c.name === `${COOKIE}-login-logout`), 'the logout cookie should be gone', (await jar()).map((c) => c.name));
  await page.waitForSelector('#user[data-state="signed-out"]');
  const state = await providerState();
  check((state.events['end_session.success'] || 0) === 1, 'the provider should have ended its session', state.events);
  check((state.events['grant.revoked'] || 0) >= 1, 'the gateway should have revoked the tokens (grant revoked)', state.events);
  return `${await page.textContent('#user')}; provider: end_session.success, grant.revoked`;
});

await step('after logout: /auth/session → 401 {"authenticated":false}', async () => {
  const r = await page.evaluate(async () => {
    const res = await fetch('/auth/session');
    return { status: res.status, body: await res.json() };
  });
  check(r.status === 401 && r.body.authenticated === false, 'expected 401 authenticated:false', r);
  return '401';
});

await step('after logout: Get contacts → 401', async () => {
  const before = (await rsSeen()).requests.length;
  const status = await clickGetContacts();
  check(status.startsWith('401'), 'expected 401 after logout', status);
  check((await rsSeen()).requests.length === before, 'the API must not be called after logout');
  return status;
});

await step('tokens are revoked at the provider (introspection: active=false)', async () => {
  const state = await providerState();
  const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
  const results = [];
  for (const [kind, token] of [['access_token', state.tokens.access_token.at(-1)], ['refresh_token', state.tokens.refresh_token.at(-1)]]) {
    const res = await fetch(discovery.introspection_endpoint, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: kind }),
    });
    const body = await res.json();
    check(res.status === 200 && body.active === false, `the last ${kind} should be inactive`, body);
    results.push(`${kind} inactive`);
  }
  return results.join(', ');
});

// checklist S9: every gateway answer Chromium saw, searched for every token the provider issued.
await step('no token ever reached JavaScript (bodies of every document/script/fetch answer)', async () => {
  await Promise.all(pendingBodies);
  const state = await providerState();
  const secrets = [
    ...state.tokens.access_token.map((t) => ['access token', t]),
    ...state.tokens.refresh_token.map((t) => ['refresh token', t]),
    ...state.tokens.id_token.map((t) => ['ID token', t]),
  ];
  check(secrets.length >= 5, 'expected the provider to report the issued tokens', secrets.length);
  const problems = [];
  for (const r of jsVisible) {
    if (r.url === `${GW}/auth/logout` && !r.body && jsLogoutUrl) {
      // Navigated away before the body could be read; the SPA navigated to its logout_url.
      r.body = JSON.stringify({ logout_url: jsLogoutUrl });
    }
    for (const [kind, value] of secrets) {
      if (!r.body.includes(value)) continue;
      problems.push(`${kind} in ${r.type} ${r.url} (${r.status})`);
    }
    if (/"(access_token|refresh_token)"\s*:/.test(r.body)) problems.push(`token field in ${r.url}`);
  }
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  for (const [kind, value] of secrets) if (storage.includes(value)) problems.push(`${kind} in web storage`);
  check(problems.length === 0, 'tokens visible to JavaScript', problems);
  return `${jsVisible.length} answers checked against ${secrets.length} issued tokens`;
});

await step('gateway cookies never reached an upstream; no provider errors; the gateway log (debug, trace for the gateway) holds no token, code, state, cookie or secret', async () => {
  const seen = await rsSeen();
  check(seen.gatewayCookies.length === 0, 'gateway cookies reached the API', seen.gatewayCookies);
  check(spa.seen.gatewayCookies.length === 0, 'gateway cookies reached the SPA server', spa.seen.gatewayCookies);
  const state = await providerState();
  const log = fs.readFileSync(LOG.gateway, 'utf8');
  const leaks = [
    ...Object.values(state.tokens).flat(),
    CLIENT_SECRET,
    sessionKey,
    ...callbackSecrets,
  ].filter((s) => s && log.includes(s));
  check(leaks.length === 0, 'the gateway log contains secrets', leaks.length);
  check(state.errors.length === 0, 'the provider reported errors', state.errors);
  const lines = log.trim().split('\n').length;
  return `API saw ${seen.requests.length} requests, SPA server ${spa.seen.requests}; ${lines} gateway log lines clean`;
});

clearTimeout(overall);
finished = true;
await cleanup();
const exitInfo = await gateway.exited;
out(`\nall ${stepNo} steps passed in ${since().trim()} (gateway exited ${JSON.stringify(exitInfo)})`);
process.exit(0);
