// Shared bookkeeping for an end-to-end driver (used by demo.mjs; run.mjs has its own copy of the
// same ideas): numbered PASS/FAIL steps, child processes stopped by PID on every exit path, an
// overall timeout, and on failure the page text, a screenshot and the tails of the logs.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export class StepError extends Error {}

export function sleep(ms) {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}

export function check(condition, message, detail) {
  if (!condition) {
    const got = typeof detail === 'string' ? detail : JSON.stringify(detail);
    throw new StepError(detail === undefined ? message : `${message}\n    got: ${got}`);
  }
}

export async function httpGet(url, headers = {}) {
  const res = await fetch(url, { headers, redirect: 'manual' });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export async function waitFor(what, probe, { timeoutMs = 20_000, intervalMs = 100 } = {}) {
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

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (error) {
    return `(cannot read ${file}: ${error.message})`;
  }
}

export class Harness {
  // logs: { name: file path } — truncated now, shown (last lines) on failure.
  constructor({ artifacts, logs, timeoutMs }) {
    this.artifacts = artifacts;
    this.logs = logs;
    this.children = [];
    this.closers = [];
    this.browser = undefined;
    this.page = undefined;
    this.finished = false;
    this.stepNo = 0;
    this.t0 = Date.now();
    fs.mkdirSync(artifacts, { recursive: true });
    for (const file of Object.values(logs)) fs.writeFileSync(file, '');
    fs.rmSync(path.join(artifacts, 'failure.png'), { force: true });
    this.overall = setTimeout(() => { this.fail(`overall timeout of ${timeoutMs / 1000}s exceeded`); }, timeoutMs);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => this.fail(`received ${signal}`));
    process.on('unhandledRejection', (error) => this.fail(`unhandled rejection: ${error?.stack || error}`));
    // Last resort if the process goes down some other way: no child may survive us.
    process.on('exit', () => {
      for (const { proc } of this.children) {
        if (proc.exitCode === null && proc.signalCode === null && proc.pid) {
          try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
        }
      }
    });
  }

  since() {
    return `${((Date.now() - this.t0) / 1000).toFixed(1)}s`.padStart(6);
  }

  out(line) {
    process.stdout.write(`${line}\n`);
  }

  note(text) {
    this.out(`[${this.since()}] NOTE ${text}`);
  }

  async step(title, fn) {
    this.stepNo += 1;
    const n = String(this.stepNo).padStart(2);
    const started = Date.now();
    try {
      const note = await fn();
      this.out(`[${this.since()}] PASS ${n}. ${title}${note ? ` — ${note}` : ''} (${Date.now() - started} ms)`);
    } catch (error) {
      this.out(`[${this.since()}] FAIL ${n}. ${title}`);
      await this.fail(error instanceof StepError ? error.message : (error?.stack || String(error)));
    }
  }

  // Starts a child; stdout and stderr go to logFile, stdout lines also to onLine.
  spawnChild(name, cmd, args, { env, cwd, logFile, onLine } = {}) {
    const fd = fs.openSync(logFile, 'a');
    const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', onLine ? 'pipe' : fd, fd] });
    const exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => resolve({ code, signal }));
      proc.once('error', (error) => resolve({ code: -1, error: error.message }));
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
    this.children.push(child);
    return child;
  }

  // SIGTERM, then SIGKILL after a while; by PID.
  async stopChild(child) {
    const { proc, exited } = child;
    if (proc.exitCode === null && proc.signalCode === null && proc.pid) {
      try { process.kill(proc.pid, 'SIGTERM'); } catch { /* gone */ }
      const done = await Promise.race([exited.then(() => true), sleep(8000).then(() => false)]);
      if (!done) {
        try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
        await Promise.race([exited, sleep(2000)]);
      }
    }
    try { fs.closeSync(child.fd); } catch { /* closed */ }
  }

  async cleanup() {
    if (this.browser) {
      const b = this.browser;
      this.browser = undefined;
      await Promise.race([b.close().catch(() => {}), sleep(5000)]);
    }
    for (const close of this.closers.splice(0).reverse()) {
      await Promise.race([close().catch(() => {}), sleep(2000)]);
    }
    for (const child of this.children.slice().reverse()) await this.stopChild(child);
  }

  async fail(reason) {
    if (this.finished) return;
    this.finished = true;
    this.out(`\nFAIL: ${reason}`);
    if (this.page) {
      try {
        const at = new URL(this.page.url());
        this.out(`  browser at: ${at.origin}${at.pathname}${at.search ? '?…' : ''}`);
        const text = await Promise.race([this.page.evaluate(() => document.body?.innerText ?? ''), sleep(2000).then(() => '(no answer)')]);
        this.out(`  page text: ${String(text).replace(/\s+/g, ' ').slice(0, 400)}`);
        const shot = path.join(this.artifacts, 'failure.png');
        await Promise.race([this.page.screenshot({ path: shot }), sleep(3000)]);
        this.out(`  screenshot: ${path.relative(process.cwd(), shot)}`);
      } catch { /* page gone */ }
    }
    for (const [name, file] of Object.entries(this.logs)) {
      this.out(`\n----- ${name} log (last 40 lines of ${path.relative(process.cwd(), file)}) -----`);
      this.out(tail(file));
    }
    this.out('-----');
    await this.cleanup();
    process.exit(1);
  }

  async finish(summary) {
    clearTimeout(this.overall);
    this.finished = true;
    await this.cleanup();
    this.out(`\nall ${this.stepNo} steps passed in ${this.since().trim()}${summary ? ` (${summary})` : ''}`);
    process.exit(0);
  }
}
