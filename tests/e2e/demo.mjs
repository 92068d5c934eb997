// End-to-end test of the one-command demo (`cargo run --release --example demo`): the built demo
// binary (demo authorization server + contacts API + SPA + the gateway from gateway.yaml) and
// headless Chromium doing what a newcomer does — login, consent, contacts, a refresh after the
// short access-token lifetime, log out — and a second user who denies the consent screen.
//
//   node demo.mjs            (tests/e2e/run installs what is missing, then runs this)
//
// Env: BFF_DEMO_BIN (default ../../target/release/examples/demo), E2E_TIMEOUT_MS (150000),
//      CHROMIUM (default /usr/bin/chromium).
// Artifacts (tests/e2e/artifacts/): demo-contacts.png, demo-journal.json, demo.log, failure.png on
// failure.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS, Harness, StepError, check, httpGet, sleep, waitFor,
} from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEMO_BIN = path.resolve(process.env.BFF_DEMO_BIN || path.join(HERE, '../../target/release/examples/demo'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const ACCESS_TOKEN_TTL_S = 5;
const USER = { login: 'demo', password: 'demo', name: 'Demo User' };
const CONTACTS = ['Ada Lovelace', 'Alan Turing', 'Grace Hopper'];
const SCOPES = ['openid', 'profile', 'email', 'offline_access', 'contacts'];
const COOKIE = '__Host-bff';

// The demo and the browser must reach only the local servers.
for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) {
  delete process.env[k];
}

const LOG = { demo: path.join(ARTIFACTS, 'demo.log') };
const h = new Harness({ artifacts: ARTIFACTS, logs: LOG, timeoutMs: Number(process.env.E2E_TIMEOUT_MS || 150_000) });
const step = h.step.bind(h);

h.out('bff-gateway demo end-to-end test (cargo run --release --example demo + headless Chromium)');
h.out(`  demo binary: ${DEMO_BIN}`);
if (!fs.existsSync(DEMO_BIN)) {
  await h.fail(`demo binary not found: ${DEMO_BIN} (cargo build --release --example demo, or set BFF_DEMO_BIN)`);
}

let demo;
let ready;
let GW;
let ISSUER;
const stdout = [];
// Values that must never appear in the journal or the demo's log.
const secrets = new Map([['client secret', 'demo-secret']]);
const journal = async () => (await httpGet(`${GW}/demo/journal?after=0`)).json.entries;
const kinds = async () => (await journal()).map((e) => e.kind);

await step('the demo starts from gateway.yaml and prints the URL to open and the demo credentials', async () => {
  let announce;
  const announced = new Promise((resolve) => { announce = resolve; });
  demo = h.spawnChild('demo', DEMO_BIN, [], {
    cwd: path.join(HERE, '../..'),
    env: {
      DEMO_GATEWAY_PORT: '0',
      DEMO_ADMIN_PORT: '0',
      DEMO_AUTH_PORT: '0',
      DEMO_API_PORT: '0',
      DEMO_SPA_PORT: '0',
      DEMO_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL_S),
      RUST_LOG: 'info',
      NO_PROXY: '*',
    },
    logFile: LOG.demo,
    onLine: (line) => {
      stdout.push(line);
      if (!line.startsWith('{')) return;
      try {
        const json = JSON.parse(line);
        if (json.demo === 'ready') announce(json);
      } catch { /* a log line */ }
    },
  });
  const result = await Promise.race([
    announced,
    demo.exited.then((r) => ({ exited: r })),
    sleep(60_000).then(() => ({ timeout: true })),
  ]);
  check(result.url, 'the demo did not print its ready line', result);
  ready = result;
  GW = ready.url.replace(/\/$/, '');
  ISSUER = ready.issuer;
  check(/^http:\/\/127\.0\.0\.1:\d+$/.test(GW), 'the URL should be the gateway on 127.0.0.1', GW);
  check(/^http:\/\/localhost:\d+$/.test(ISSUER), 'the issuer should be on localhost (another site)', ISSUER);
  const banner = stdout.join('\n');
  for (const want of [`Open      ${ready.url}`, 'demo / demo', 'DEMO ONLY', 'Ctrl-C', 'gateway.yaml']) {
    check(banner.includes(want), `the banner should say "${want}"`, banner.slice(-1500));
  }
  const readyz = await httpGet(`http://${ready.admin}/readyz`);
  check(readyz.status === 200, 'the gateway should be ready (OpenID discovery done)', readyz.status);
  return `${ready.url} (pid ${demo.proc.pid}), issuer ${ISSUER}`;
});

await step('Chromium starts', async () => {
  h.browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  return `Chromium ${h.browser.version()}`;
});

async function newPage() {
  const context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  const page = await context.newPage();
  page.on('pageerror', (error) => h.out(`  (page error: ${error.message})`));
  // Remember the OAuth values that pass through the browser, to prove they never leak.
  page.on('request', (request) => {
    const url = new URL(request.url());
    for (const name of ['state', 'code_challenge', 'nonce', 'code', 'id_token_hint']) {
      const value = url.searchParams.get(name);
      if (value && value.length >= 16) secrets.set(`${name} (${url.pathname})`, value);
    }
  });
  return { context, page };
}

const { context, page } = await newPage();
h.page = page;
const jar = async (ctx = context) => ctx.cookies(GW);
const sessionCookie = async (ctx = context) => (await jar(ctx)).find((c) => c.name === COOKIE);
async function clickGetContacts() {
  const before = Number(await page.getAttribute('#status', 'data-calls'));
  await page.click('#get-contacts');
  await page.waitForFunction((n) => Number(document.querySelector('#status').dataset.calls) > n, before);
  return (await page.textContent('#status')).trim();
}
async function signIn(p) {
  await p.waitForSelector('#username');
  check((await p.textContent('body')).includes('DEMO ONLY'), 'the login page should be labelled DEMO ONLY');
  await p.fill('#username', USER.login);
  await p.fill('#password', USER.password);
  await Promise.all([p.waitForSelector('button[value="approve"]'), p.click('button[type="submit"]')]);
  return p.$$eval('main li code', (codes) => codes.map((c) => c.textContent));
}
const atSpa = (u) => u.origin === GW && u.pathname === '/';
let loginAt;

await step('the SPA loads through the gateway and says "Not signed in"', async () => {
  const response = await page.goto(`${GW}/`);
  check(response.status() === 200, 'GET / should be 200', response.status());
  await page.waitForSelector('#user[data-state="signed-out"]');
  check(await page.isVisible('#login'), 'the "Log in" link should be visible');
  return (await page.textContent('#user')).trim();
});

await step('Get contacts → 401 → the SPA goes to /auth/login → 302 → the demo authorization server\'s login form', async () => {
  const authorize = page.waitForRequest((r) => r.url().startsWith(`${ISSUER}/oauth2/authorize?`));
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${ISSUER}/oauth2/authorize?`)),
    page.click('#get-contacts'),
  ]);
  const q = new URL((await authorize).url()).searchParams;
  check(q.get('code_challenge_method') === 'S256' && q.get('code_challenge')?.length === 43, 'PKCE S256 should be sent', q.get('code_challenge_method'));
  check((q.get('state') || '').length >= 43, 'state should carry 256 bits', q.get('state')?.length);
  check(q.get('redirect_uri') === `${GW}/auth/callback`, 'redirect_uri should be the gateway\'s callback', q.get('redirect_uri'));
  await page.waitForSelector('#username');
  return `at ${new URL(page.url()).origin}/oauth2/authorize`;
});

await step('log in as demo / demo → the consent screen lists the scopes', async () => {
  const scopes = await signIn(page);
  for (const s of SCOPES) check(scopes.includes(s), `consent should list ${s}`, scopes);
  return `asks for: ${scopes.join(' ')}`;
});

await step(`Approve → /auth/callback → back in the SPA, signed in as ${USER.name}`, async () => {
  await Promise.all([page.waitForURL(atSpa), page.click('button[value="approve"]')]);
  loginAt = Date.now();
  await page.waitForSelector('#user[data-state="signed-in"]');
  const text = (await page.textContent('#user')).trim();
  check(text.includes(USER.name), 'the SPA should show the user\'s name from /auth/session', text);
  const cookie = await sessionCookie();
  check(cookie?.httpOnly && cookie.secure && cookie.sameSite === 'Strict', `${COOKIE} should be HttpOnly, Secure, SameSite=Strict`, cookie);
  secrets.set('session cookie', cookie.value);
  check(!(await page.evaluate(() => document.cookie)).includes('bff'), 'JavaScript must not see the session cookie');
  return text;
});

await step('Get contacts → the demo user\'s contacts (gateway added the token, the API introspected it)', async () => {
  const status = await clickGetContacts();
  check(status === '200', 'expected 200 from /api/contacts', status);
  const names = await page.$$eval('#contacts li .name', (spans) => spans.map((s) => s.textContent));
  check(JSON.stringify(names) === JSON.stringify(CONTACTS), 'the three contacts should be listed', names);
  const phones = await page.$$eval('#contacts li .phone', (spans) => spans.map((s) => s.textContent));
  check(phones.every((p) => p.startsWith('+')), 'phone numbers should be shown', phones);
  return names.join(', ');
});

await step('the step-by-step panel tells the flow: authorize, login, consent, code, token exchange, API call, introspection', async () => {
  const wanted = [
    'click_get_contacts', 'api_unauthenticated', 'login_redirect', 'authorization_request', 'login_form',
    'login', 'consent_shown', 'consent_approved', 'code_issued', 'token_exchange', 'login_completed',
    'callback', 'spa_signed_in', 'api_token_received', 'introspection', 'api_answered', 'api_call',
  ];
  const panel = await waitFor('the panel to show every step', async () => {
    const shown = await page.$$eval('#journal li', (lis) => lis.map((li) => li.dataset.kind));
    return { ok: wanted.every((k) => shown.includes(k)), missing: wanted.filter((k) => !shown.includes(k)) };
  }, { timeoutMs: 5000 });
  check(panel.ok, 'steps missing', panel.missing);
  const shown = await page.$$eval('#journal li', (lis) => lis.map((li) => li.dataset.kind));
  const order = ['authorization_request', 'login_form', 'consent_approved', 'code_issued', 'token_exchange', 'callback', 'api_token_received', 'introspection', 'api_call'];
  const positions = order.map((k) => shown.indexOf(k));
  check(positions.every((p, i) => i === 0 || p > positions[i - 1]), 'the steps should be in the order they happened', order.map((k, i) => `${k}@${positions[i]}`));
  const redirect = await page.textContent('#journal li[data-kind="login_redirect"] .explain');
  check(redirect.includes('302') && redirect.includes('PKCE') && redirect.includes('never sees a token'), 'the redirect step should explain itself', redirect);
  const exchange = await page.textContent('#journal li[data-kind="token_exchange"] .detail');
  check(exchange.includes('client_secret_basic') && exchange.includes('refresh token'), 'the token exchange should name the client authentication and the tokens', exchange);
  await page.screenshot({ path: path.join(ARTIFACTS, 'demo-contacts.png'), fullPage: true });
  return `${shown.length} steps; screenshot artifacts/demo-contacts.png`;
});

await step('no token, code, state, cookie or secret in the journal', async () => {
  const text = JSON.stringify(await journal());
  const leaks = [...secrets].filter(([, value]) => text.includes(value)).map(([name]) => name);
  check(leaks.length === 0, 'the journal contains secrets', leaks);
  const long = text.match(/[A-Za-z0-9_-]{40,}/);
  check(!long, 'the journal contains something that looks like a token', long?.[0]?.length);
  return `${secrets.size} values checked`;
});

await step(`refresh: wait past the ${ACCESS_TOKEN_TTL_S}s access-token lifetime, Clear the panel, Get contacts still works, the panel shows the refresh`, async () => {
  const refreshesBefore = (await kinds()).filter((k) => k === 'token_refresh').length;
  const cookieBefore = (await sessionCookie())?.value;
  const waitMs = Math.max(0, loginAt + (ACCESS_TOKEN_TTL_S + 1) * 1000 - Date.now());
  h.out(`         … waiting ${(waitMs / 1000).toFixed(1)}s for the access token to expire`);
  await sleep(waitMs);
  await page.click('#journal-clear');
  check(await page.$$eval('#journal li', (lis) => lis.length) === 0, 'Clear should empty the panel');
  await page.waitForFunction(() => sessionStorage.getItem('journalFrom') !== null);
  const status = await clickGetContacts();
  check(status === '200', 'expected 200 after the access token expired', status);
  const entries = await journal();
  const refreshes = entries.filter((e) => e.kind === 'token_refresh');
  check(refreshes.length === refreshesBefore + 1, 'the gateway should have refreshed once', entries.map((e) => e.kind).slice(-12));
  check(refreshes.at(-1).title.includes('rotated'), 'the refresh should rotate the refresh token', refreshes.at(-1).title);
  const cookieAfter = (await sessionCookie())?.value;
  check(cookieAfter && cookieAfter !== cookieBefore, 'the browser should have the updated session cookie');
  secrets.set('refreshed session cookie', cookieAfter);
  await page.waitForSelector('#journal li[data-kind="token_refresh"]', { timeout: 5000 });
  const panel = await page.$$eval('#journal li', (lis) => lis.map((li) => li.dataset.kind));
  check(panel[0] === 'click_get_contacts' && panel[1] === 'token_refresh', 'after Clear the panel should tell only the new call, refresh first', panel);
  return refreshes.at(-1).detail;
});

await step('Log out → POST /auth/logout → the authorization server signs out → back in the SPA, signed out', async () => {
  // The provider's end-session endpoint redirects at once, so watch for the request itself.
  const endSession = page.waitForRequest((r) => r.url().startsWith(`${ISSUER}/oauth2/logout?`) && r.isNavigationRequest());
  await page.click('#logout');
  await endSession;
  // The old page says signed-in; the SPA reloaded after the provider's redirect says signed-out.
  await page.waitForSelector('#user[data-state="signed-out"]');
  check(atSpa(new URL(page.url())), 'the provider should send the browser back to the SPA', page.url());
  check(!(await sessionCookie()), 'the session cookie should be gone', await jar());
  const r = await page.evaluate(async () => (await fetch('/auth/session')).status);
  check(r === 401, '/auth/session should be 401 after logout', r);
  const k = await kinds();
  for (const want of ['click_log_out', 'logout', 'revocation', 'end_session']) check(k.includes(want), `the journal should show ${want}`, k.slice(-10));
  return (await page.textContent('#user')).trim();
});

await step('after logout: Get contacts → 401 → the login form again (the authorization server\'s session ended too)', async () => {
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${ISSUER}/oauth2/authorize?`)),
    page.click('#get-contacts'),
  ]);
  await page.waitForSelector('#username');
  return 'login form shown';
});

// The authorization server remembers the first consent; "Log in and review permissions" asks
// with prompt=consent, so the consent screen comes back.
await step('second browser: "Log in and review permissions" → login → consent → Deny → back in the SPA with "Access denied" and no session', async () => {
  const second = await newPage();
  h.page = second.page;
  const p = second.page;
  await p.goto(`${GW}/`);
  await p.waitForSelector('#user[data-state="signed-out"]');
  const authorize = p.waitForRequest((r) => r.url().startsWith(`${ISSUER}/oauth2/authorize?`));
  await Promise.all([p.waitForURL((u) => u.href.startsWith(`${ISSUER}/oauth2/authorize?`)), p.click('#login-consent')]);
  const prompt = new URL((await authorize).url()).searchParams.get('prompt');
  check(prompt === 'consent', 'the gateway should pass prompt=consent on', prompt);
  await signIn(p);
  await Promise.all([p.waitForURL(atSpa), p.click('button[value="deny"]')]);
  await p.waitForSelector('#message:not([hidden])');
  const message = (await p.textContent('#message')).trim();
  check(message === 'Access denied: you declined the consent screen, so the app has no access to your contacts.', 'a readable access-denied message', message);
  await p.waitForSelector('#user[data-state="signed-out"]');
  check(!(await sessionCookie(second.context)), 'no session cookie after a denied consent', await jar(second.context));
  const k = await kinds();
  for (const want of ['consent_denied', 'authorization_error', 'spa_auth_error']) check(k.includes(want), `the journal should show ${want}`, k.slice(-10));
  await second.context.close();
  h.page = page;
  return message;
});

await step('the contacts API on its own refuses with 403 and an RFC 6750 challenge: no token, an unknown token', async () => {
  const none = await httpGet(`${ready.api}/contacts`);
  check(none.status === 403 && none.json?.error === 'missing_token', 'no token should be 403 missing_token', `${none.status} ${none.text}`);
  check(none.headers.get('www-authenticate') === 'Bearer realm="contacts", scope="contacts"', 'a bare Bearer challenge naming the scope', none.headers.get('www-authenticate'));
  const unknown = await httpGet(`${ready.api}/contacts`, { Authorization: 'Bearer not-a-token' });
  check(unknown.status === 403 && unknown.json?.error === 'invalid_token', 'an unknown token should be 403 invalid_token', `${unknown.status} ${unknown.text}`);
  check(unknown.headers.get('www-authenticate') === 'Bearer realm="contacts", error="invalid_token"', 'an invalid_token challenge', unknown.headers.get('www-authenticate'));
  const k = await kinds();
  for (const want of ['api_no_token', 'api_invalid_token']) check(k.includes(want), `the journal should show ${want}`, k.slice(-6));
  return `${none.status} ${none.json.error}, ${unknown.status} ${unknown.json.error}`;
});

await step('the whole journal is saved as artifacts/demo-journal.json', async () => {
  const entries = await journal();
  fs.writeFileSync(path.join(ARTIFACTS, 'demo-journal.json'), `${JSON.stringify(entries, null, 2)}\n`);
  return `${entries.length} steps`;
});

await step('Ctrl-C (SIGINT) stops the demo cleanly: every server stops, exit code 0', async () => {
  process.kill(demo.proc.pid, 'SIGINT');
  const exit = await Promise.race([demo.exited, sleep(20_000).then(() => ({ timeout: true }))]);
  check(exit.code === 0, 'the demo should exit 0 after Ctrl-C', exit);
  check(stdout.some((l) => l.includes('demo stopped')), 'the demo should say it stopped', stdout.slice(-5));
  const gone = await fetch(`${GW}/`).then(() => false, () => true);
  check(gone, 'the gateway should no longer answer');
  return JSON.stringify(exit);
});

await step('the demo\'s log holds no token, code, state, cookie or secret', async () => {
  const log = fs.readFileSync(LOG.demo, 'utf8');
  const leaks = [...secrets].filter(([, value]) => log.includes(value)).map(([name]) => name);
  check(leaks.length === 0, 'the demo log contains secrets', leaks);
  return `${log.trim().split('\n').length} lines, ${secrets.size} values checked`;
});

if (!(h.stepNo > 0)) throw new StepError('no steps ran');
await h.finish();
