// The contacts API behind the gateway: a tiny resource server that only trusts the provider.
//
//   GET /contacts   Bearer token required; introspected at the provider's introspection endpoint
//                   (client_secret_basic as msnID). 401 without a token, 403 when inactive or
//                   without the `contacts` scope, 200 with JSON contacts otherwise.
//   GET /_seen      What reached this server (for the test): per request the path, whether a
//                   Bearer token came, a hash of it, the cookie names, and any gateway cookie
//                   (`__Host-bff*` / `bff*`), which must never arrive here.
//
// Usable in-process (`startResourceServer`) or stand-alone:
//   node resource-server.mjs --issuer http://localhost:PORT [--port N]

import crypto from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const CONTACTS = [
  { name: 'Grace Hopper', email: 'grace@example.test' },
  { name: 'Alan Turing', email: 'alan@example.test' },
  { name: 'Katherine Johnson', email: 'katherine@example.test' },
];

export const tokenHash = (token) => crypto.createHash('sha256').update(token).digest('base64url').slice(0, 16);

const isGatewayCookie = (name) => name.startsWith('__Host-bff') || name.startsWith('bff');

export async function startResourceServer({
  issuer, clientId = 'msnID', clientSecret = 'demo-secret', port = 0, log = () => {},
}) {
  let introspectionEndpoint;
  const discover = async () => {
    if (!introspectionEndpoint) {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`);
      if (!res.ok) throw new Error(`discovery: ${res.status}`);
      const doc = await res.json();
      if (!doc.introspection_endpoint) throw new Error('provider has no introspection_endpoint');
      introspectionEndpoint = doc.introspection_endpoint;
    }
    return introspectionEndpoint;
  };
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
  const introspect = async (token) => {
    const res = await fetch(await discover(), {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    if (!res.ok) throw new Error(`introspection: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };

  const seen = { requests: [], gatewayCookies: [] };

  const json = (res, status, body, extra = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...extra });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://resource.local');
    if (url.pathname === '/_seen') {
      json(res, 200, seen);
      return;
    }
    const cookieNames = (req.headers.cookie || '')
      .split(';').map((c) => c.trim().split('=')[0]).filter(Boolean);
    const leaked = cookieNames.filter(isGatewayCookie);
    seen.gatewayCookies.push(...leaked);
    const auth = req.headers.authorization || '';
    const bearer = /^Bearer ([^\s]+)$/i.exec(auth)?.[1];
    const record = {
      at: new Date().toISOString(),
      method: req.method,
      path: url.pathname,
      bearer: Boolean(bearer),
      token_hash: bearer ? tokenHash(bearer) : null,
      cookies: cookieNames,
      leaked_gateway_cookies: leaked,
      x_forwarded_host: req.headers['x-forwarded-host'] ?? null,
      status: 0,
    };
    seen.requests.push(record);
    const answer = (status, body, extra) => {
      record.status = status;
      log({ resource: `${req.method} ${url.pathname}`, status, bearer: record.bearer, cookies: cookieNames });
      json(res, status, body, extra);
    };

    if (url.pathname !== '/contacts') {
      answer(404, { error: 'not_found' });
      return;
    }
    if (req.method !== 'GET') {
      answer(405, { error: 'method_not_allowed' }, { allow: 'GET' });
      return;
    }
    if (!bearer) {
      answer(401, { error: 'invalid_request', message: 'no Bearer token' }, { 'www-authenticate': 'Bearer' });
      return;
    }
    let info;
    try {
      info = await introspect(bearer);
    } catch (error) {
      answer(502, { error: 'introspection_failed', message: String(error.message || error) });
      return;
    }
    record.active = Boolean(info.active);
    record.scope = info.scope ?? null;
    record.sub = info.sub ?? null;
    record.client_id = info.client_id ?? null;
    if (!info.active) {
      answer(403, { error: 'invalid_token', message: 'token is not active' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return;
    }
    if (!String(info.scope || '').split(' ').includes('contacts')) {
      answer(403, { error: 'insufficient_scope', message: 'needs scope contacts' }, { 'www-authenticate': 'Bearer error="insufficient_scope", scope="contacts"' });
      return;
    }
    answer(200, { owner: info.sub, contacts: CONTACTS });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const close = () => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
  return { port: server.address().port, seen, close };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { issuer: { type: 'string' }, port: { type: 'string', default: '0' } },
  });
  if (!values.issuer) {
    console.error('usage: node resource-server.mjs --issuer http://localhost:PORT [--port N]');
    process.exit(2);
  }
  const { port, close } = await startResourceServer({
    issuer: values.issuer,
    port: Number(values.port),
    log: (o) => process.stdout.write(`${JSON.stringify(o)}\n`),
  });
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
  const stop = async () => { await close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
