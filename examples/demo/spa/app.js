// The demo SPA: the token handler contract from README ("The SPA side") and the step-by-step
// panel. It never sees a token: /auth/session for the user, `X-CSRF: 1` on API calls, 401 (or the
// API's 403 invalid_token) → /auth/login, logout via POST /auth/logout (JSON). Data goes into the
// page with textContent only.
'use strict';

const $ = (id) => document.getElementById(id);
const API_HEADERS = { 'X-CSRF': '1', Accept: 'application/json' };
const LOGIN = '/auth/login?return_to=/';
const AUTH_ERRORS = {
  access_denied: 'Access denied: you declined the consent screen, so the app has no access to your contacts.',
  login_required: 'You are not signed in at the authorization server.',
  consent_required: 'The app needs your consent first.',
};

// Tells the journal what only the browser sees (a click, a 401). Step names from a fixed list.
function note(step, extra = {}) {
  return fetch('/demo/journal/browser', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ step, ...extra }),
  }).catch(() => {});
}

function showMessage(text) {
  $('message').textContent = text;
  $('message').hidden = !text;
}

async function loadSession() {
  const user = $('user');
  let signedIn = false;
  try {
    const res = await fetch('/auth/session', { headers: { Accept: 'application/json' } });
    const body = await res.json().catch(() => ({}));
    signedIn = res.ok && body.authenticated === true;
    const claims = (body && body.claims) || {};
    user.textContent = signedIn ? `Signed in as ${claims.name || claims.preferred_username || claims.sub}` : 'Not signed in';
  } catch (error) {
    user.textContent = 'Cannot reach the gateway';
  }
  user.dataset.state = signedIn ? 'signed-in' : 'signed-out';
  $('login').hidden = signedIn;
  $('login-consent').hidden = signedIn;
  $('logout').hidden = !signedIn;
  await note(signedIn ? 'signed_in' : 'signed_out');
}

function renderContacts(contacts) {
  const list = $('contacts');
  list.replaceChildren();
  for (const c of contacts) {
    const li = document.createElement('li');
    for (const [cls, text] of [['name', c.name], ['email', c.email], ['phone', c.phone]]) {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    list.append(li);
  }
}

async function getContacts() {
  const status = $('status');
  await note('get_contacts');
  let text;
  try {
    const res = await fetch('/api/contacts', { headers: API_HEADERS });
    const body = await res.json().catch(() => null);
    // 401: no session. 403 invalid_token: the API refused the token even after the gateway's one
    // refresh, so only a new login can help.
    const tokenRefused = res.status === 403 && body && body.error === 'invalid_token';
    if (res.status === 401 || tokenRefused) {
      await note('login_redirect', tokenRefused ? { error: 'invalid_token' } : {});
      window.location.assign(LOGIN);
      return;
    }
    text = String(res.status);
    if (res.ok && body && Array.isArray(body.contacts)) {
      renderContacts(body.contacts);
      showMessage('');
      await note('contacts_shown');
    } else if (res.status === 403 && body && body.error === 'insufficient_scope') {
      showMessage('The API refused: the token lacks the contacts scope.');
    } else {
      showMessage(`The API call failed (${res.status}${body && body.error ? ` ${body.error}` : ''}).`);
    }
  } catch (error) {
    text = 'network error';
    showMessage('Cannot reach the gateway.');
  }
  status.textContent = text;
  status.dataset.calls = String(Number(status.dataset.calls) + 1);
}

async function logout() {
  await note('log_out');
  const res = await fetch('/auth/logout', { method: 'POST', headers: API_HEADERS });
  const body = await res.json().catch(() => ({}));
  if (res.ok && body.logout_url) {
    window.location.assign(body.logout_url);
  } else {
    showMessage(`Logout failed (${res.status}).`);
  }
}

// After a login the gateway may send us back with ?auth_error=<code>.
async function readAuthError() {
  const code = new URLSearchParams(window.location.search).get('auth_error');
  if (!code) return;
  showMessage(AUTH_ERRORS[code] || `Sign-in failed: ${code}.`);
  window.history.replaceState(null, '', window.location.pathname);
  await note('auth_error', { error: code });
}

// ---- The step-by-step panel: polls /demo/journal and keeps the story across page loads. ----

const journal = { from: Number(sessionStorage.getItem('journalFrom') || 0), last: 0, shown: 0 };

function timeOf(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function renderEntry(entry) {
  const li = document.createElement('li');
  li.dataset.kind = entry.kind;
  li.dataset.actor = entry.actor;
  const head = document.createElement('div');
  head.className = 'head';
  const actor = document.createElement('span');
  actor.className = 'actor';
  actor.textContent = entry.actor;
  const title = document.createElement('strong');
  title.textContent = entry.title;
  const time = document.createElement('time');
  time.textContent = timeOf(entry.time);
  head.append(actor, title, time);
  li.append(head);
  for (const [cls, text] of [['detail', entry.detail], ['explain', entry.explain]]) {
    if (!text) continue;
    const p = document.createElement('p');
    p.className = cls;
    p.textContent = text;
    li.append(p);
  }
  return li;
}

async function pollJournal() {
  try {
    const res = await fetch(`/demo/journal?after=${Math.max(journal.from, journal.last)}`);
    const body = await res.json();
    if (body.last < journal.last || body.last < journal.from) {
      // The demo restarted: start over.
      journal.from = 0;
      journal.last = 0;
      sessionStorage.removeItem('journalFrom');
      $('journal').replaceChildren();
      return;
    }
    const list = $('journal');
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    for (const entry of body.entries) {
      if (entry.seq <= Math.max(journal.from, journal.last)) continue; // cleared meanwhile
      list.append(renderEntry(entry));
      journal.last = entry.seq;
    }
    if (body.entries.length && atBottom) list.scrollTop = list.scrollHeight;
  } catch {
    // The demo is stopping or restarting; try again later.
  }
}

// Hides everything that happened so far (also what the panel has not fetched yet).
async function clearJournal() {
  journal.from = journal.last;
  $('journal').replaceChildren();
  try {
    const res = await fetch(`/demo/journal?after=${Number.MAX_SAFE_INTEGER}`);
    journal.from = Math.max(journal.from, (await res.json()).last);
  } catch {
    // Keep what we know.
  }
  sessionStorage.setItem('journalFrom', String(journal.from));
}

$('get-contacts').addEventListener('click', getContacts);
$('logout').addEventListener('click', logout);
$('journal-clear').addEventListener('click', clearJournal);
readAuthError().then(loadSession);
pollJournal();
setInterval(() => { if (!document.hidden) pollJournal(); }, 1000);
