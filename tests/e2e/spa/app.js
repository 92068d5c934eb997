// The SPA side of the token handler contract (README, "The SPA side"): it never sees a token.
// Session from /auth/session, API calls with `X-CSRF: 1`, logout via POST /auth/logout (JSON).
'use strict';

const $ = (id) => document.getElementById(id);

// An ordinary first-party cookie: the gateway must pass it through while stripping its own.
document.cookie = 'spa_pref=compact; path=/; SameSite=Strict';

async function loadSession() {
  const user = $('user');
  try {
    const res = await fetch('/auth/session', { headers: { Accept: 'application/json' } });
    const body = await res.json().catch(() => ({}));
    if (res.ok && body.authenticated) {
      const claims = body.claims || {};
      user.textContent = `Signed in as ${claims.name || claims.email || claims.sub}`;
      user.dataset.state = 'signed-in';
      $('login').hidden = true;
      $('logout').hidden = false;
    } else {
      user.textContent = 'Not signed in';
      user.dataset.state = 'signed-out';
      $('login').hidden = false;
      $('logout').hidden = true;
    }
  } catch (error) {
    user.textContent = `Session check failed: ${error}`;
    user.dataset.state = 'error';
  }
}

async function getContacts() {
  const status = $('status');
  const list = $('contacts');
  let text;
  try {
    const res = await fetch('/api/contacts', { headers: { 'X-CSRF': '1', Accept: 'application/json' } });
    const body = await res.json().catch(() => null);
    list.replaceChildren();
    if (res.ok && body && Array.isArray(body.contacts)) {
      for (const c of body.contacts) {
        const li = document.createElement('li');
        li.textContent = `${c.name} <${c.email}>`;
        list.append(li);
      }
      text = `${res.status}`;
    } else if (res.status === 401) {
      text = '401 (please log in)';
    } else {
      text = `${res.status} ${body && body.error ? body.error : ''}`.trim();
    }
  } catch (error) {
    text = `error: ${error}`;
  }
  status.textContent = text;
  status.dataset.calls = String(Number(status.dataset.calls) + 1);
}

async function logout() {
  const res = await fetch('/auth/logout', {
    method: 'POST',
    headers: { 'X-CSRF': '1', Accept: 'application/json' },
  });
  const body = await res.json().catch(() => ({}));
  if (res.ok && body.logout_url) {
    window.location.assign(body.logout_url);
  } else {
    $('status').textContent = `logout failed: ${res.status}`;
  }
}

const authError = new URLSearchParams(window.location.search).get('auth_error');
if (authError) {
  $('auth-error').textContent = `Sign-in error: ${authError}`;
  $('auth-error').hidden = false;
}
$('get-contacts').addEventListener('click', getContacts);
$('logout').addEventListener('click', logout);
loadSession();
