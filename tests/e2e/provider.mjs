// A real OpenID Provider for the end-to-end test: oidc-provider v9 on http://localhost:<port>.
//
//   node provider.mjs --gateway-port <port> [--port <port>]
//
// Prints one JSON line `{"ready":true,"issuer":...,"port":...}` on stdout once it listens, then
// one JSON line per interesting provider event (the test reads them from the log on failure).
//
// Test-only extras, not part of any standard:
//   GET /__e2e/state   event counts, token-endpoint grants by grant_type, and every token the
//                      token endpoint handed out (so the test can prove none reaches JavaScript).
//
// The interactions (login + consent) are our own minimal pages instead of oidc-provider's
// devInteractions, whose layout pulls a web font from fonts.googleapis.com (no network in CI).

import crypto from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

import {
  ACCESS_TOKEN_TTL, CLIENT_ID, CLIENT_SECRET, DEMO_LOGIN, DEMO_PASSWORD, DEMO_USER,
} from './fixtures.mjs';

export {
  ACCESS_TOKEN_TTL, CLIENT_ID, CLIENT_SECRET, DEMO_LOGIN, DEMO_PASSWORD, DEMO_USER,
};

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

const page = (title, body) => `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}input,button{display:block;margin:.5em 0;font-size:1em}</style>
</head><body><h1>${esc(title)}</h1>${body}</body></html>`;

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Creates the provider and starts listening. Returns { issuer, port, provider, close, state }.
 */
export async function startProvider({ gatewayPort, port = 0, log = () => {} }) {
  if (!gatewayPort) throw new Error('gatewayPort is required');
  const gatewayOrigin = `http://127.0.0.1:${gatewayPort}`;

  // Listen first, so the issuer can carry the real port. Chromium and the gateway may resolve
  // `localhost` to ::1 or 127.0.0.1, so answer on both when IPv6 loopback exists.
  const servers = [http.createServer()];
  await new Promise((resolve, reject) => {
    servers[0].once('error', reject);
    servers[0].listen(port, '127.0.0.1', resolve);
  });
  const actualPort = servers[0].address().port;
  const v6 = http.createServer();
  await new Promise((resolve) => {
    v6.once('error', () => resolve());
    v6.listen(actualPort, '::1', () => {
      servers.push(v6);
      resolve();
    });
  });

  const issuer = `http://localhost:${actualPort}`;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', alg: 'RS256', use: 'sig' };

  const state = {
    events: {},
    grants: {},
    tokens: { access_token: [], refresh_token: [], id_token: [] },
    errors: [],
  };
  const count = (name) => { state.events[name] = (state.events[name] || 0) + 1; };

  const configuration = {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [`${gatewayOrigin}/auth/callback`],
      // The gateway's RP-initiated logout comes back to its own endpoint, which checks `state`.
      post_logout_redirect_uris: [`${gatewayOrigin}/auth/logout/done`],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: 'openid profile email offline_access contacts',
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'contacts'],
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
    },
    // The gateway shows the ID token's claims at /auth/session and never calls userinfo, so the
    // ID token must carry name/email (oidc-provider's conforming default puts them only in
    // userinfo for the code flow).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    // Refresh tokens. oidc-provider follows OIDC Core 11 to the letter: it drops `offline_access`
    // from an authorization request unless `prompt=consent` is sent, and the gateway's plain
    // `/auth/login` sends no prompt. So the default (refresh token only with offline_access)
    // would never issue one. Here refresh tokens go to confidential clients allowed the
    // refresh_token grant ("other conditions permitting offline access are in place", OIDC Core
    // 11), and to anyone who did get offline_access. They are rotated on every use so the test
    // also covers the gateway's handling of rotation.
    issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && (code.scopes.has('offline_access') || client.clientAuthMethod !== 'none'),
    rotateRefreshToken: () => true,
    features: {
      devInteractions: { enabled: false },
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => client.clientId === token.clientId,
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => client.clientId === token.clientId,
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', `<p>Do you want to sign out from the demo provider?</p>
${form}
<button id="logout-yes" type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button id="logout-no" type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
    },
    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(ctx, id) {
      if (id !== DEMO_USER.sub) return undefined;
      return { accountId: id, claims: async () => ({ ...DEMO_USER }) };
    },
    async renderError(ctx, out, error) {
      state.errors.push({ path: ctx.path, ...out });
      ctx.type = 'html';
      ctx.body = page('Provider error', `<pre id="provider-error">${esc(JSON.stringify(out, null, 2))}</pre>`);
    },
  };

  const provider = new Provider(issuer, configuration);

  // Count every event; keep the token endpoint's successful grant types apart.
  const emit = provider.emit.bind(provider);
  provider.emit = (name, ...args) => {
    count(name);
    if (name === 'grant.success') {
      const type = args[0]?.oidc?.params?.grant_type ?? 'unknown';
      state.grants[type] = (state.grants[type] || 0) + 1;
      log({ event: name, grant_type: type });
    } else if (name.endsWith('.error') || name === 'server_error') {
      const err = args[1] ?? args[0];
      state.errors.push({ event: name, error: err?.error ?? err?.message, description: err?.error_description });
      log({ event: name, error: err?.error ?? err?.message, description: err?.error_description });
    } else if (/^(authorization|end_session)\.success$|^grant\.revoked$|^refresh_token\.(consumed|destroyed)$|^interaction\.(started|ended)$/.test(name)) {
      log({ event: name });
    }
    return emit(name, ...args);
  };

  provider.use(async (ctx, next) => {
    // Test hook: what happened so far.
    if (ctx.path === '/__e2e/state' && ctx.method === 'GET') {
      ctx.type = 'json';
      ctx.body = state;
      return;
    }

    // Our own login and consent interactions.
    const m = ctx.path.match(/^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/);
    if (m) {
      ctx.set('Cache-Control', 'no-store');
      const [, uid, action] = m;
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
      const { prompt, params } = details;
      const finish = async (result, merge) => {
        const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
        ctx.redirect(to);
        ctx.status = 303;
      };

      if (ctx.method === 'GET' && !action) {
        ctx.type = 'html';
        if (prompt.name === 'login') {
          ctx.body = page('Sign in to the demo provider', `
<p>Client <code>${esc(params.client_id)}</code> asks you to sign in.</p>
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>User <input id="login" name="login" required autofocus></label>
  <label>Password <input id="password" name="password" type="password" required></label>
  <button id="sign-in" type="submit">Sign in</button>
</form>`);
        } else if (prompt.name === 'consent') {
          const scopes = String(params.scope || '').split(' ').filter(Boolean);
          ctx.body = page('Authorize', `
<p>Client <code>${esc(params.client_id)}</code> asks for:</p>
<ul id="scopes">${scopes.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<form method="post" action="/interaction/${esc(uid)}/confirm"><button id="allow" type="submit">Allow</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button id="deny" type="submit">Deny</button></form>`);
        } else {
          ctx.throw(501, `prompt ${prompt.name} not implemented`);
        }
        return;
      }

      if (ctx.method === 'POST' && action === 'login') {
        const form = await readForm(ctx.req);
        if (prompt.name !== 'login') ctx.throw(400, 'not a login prompt');
        if (form.get('login') !== DEMO_LOGIN || form.get('password') !== DEMO_PASSWORD) {
          count('e2e.login_failed');
          ctx.status = 401;
          ctx.type = 'html';
          ctx.body = page('Sign in failed', `<p id="login-error">Wrong user or password.</p>
<p><a href="/interaction/${esc(uid)}">Try again</a></p>`);
          return;
        }
        await finish({ login: { accountId: DEMO_USER.sub } }, false);
        return;
      }

      if (ctx.method === 'POST' && action === 'confirm') {
        if (prompt.name !== 'consent') ctx.throw(400, 'not a consent prompt');
        const { details: missing } = prompt;
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        if (missing.missingResourceScopes) {
          for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
            grant.addResourceScope(indicator, scopes.join(' '));
          }
        }
        const grantId = await grant.save();
        await finish({ consent: { grantId } }, true);
        return;
      }

      if (ctx.method === 'POST' && action === 'abort') {
        await finish({ error: 'access_denied', error_description: 'End-User denied consent' }, false);
        return;
      }
      ctx.throw(405);
    }

    await next();

    // Remember every token the token endpoint hands out (after the provider answered).
    if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      for (const kind of ['access_token', 'refresh_token', 'id_token']) {
        if (typeof ctx.body[kind] === 'string') state.tokens[kind].push(ctx.body[kind]);
      }
    }
  });

  const callback = provider.callback();
  for (const server of servers) server.on('request', callback);

  const close = () => Promise.all(servers.map((s) => new Promise((resolve) => {
    s.closeAllConnections?.();
    s.close(() => resolve());
  })));

  return { issuer, port: actualPort, provider, state, close };
}

// Stand-alone: `node provider.mjs --gateway-port N [--port P]`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      'gateway-port': { type: 'string' },
      port: { type: 'string', default: '0' },
    },
  });
  const line = (obj) => process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), ...obj })}\n`);
  const { issuer, port, close } = await startProvider({
    gatewayPort: Number(values['gateway-port']),
    port: Number(values.port),
    log: line,
  });
  process.stdout.write(`${JSON.stringify({ ready: true, issuer, port })}\n`);
  const stop = async () => {
    await close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
