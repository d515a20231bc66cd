// Helpers of tessera's Node.js integration tests: start a real tesserad --dev on a free
// loopback port in a fresh data directory, talk to it over TLS trusting only its
// self-signed certificate, and stop it (SIGTERM, exit status 0, no process left).
//
// Trust: NODE_EXTRA_CA_CERTS is read when node starts, before the server of a test file
// has made its certificate, so requests go through tlsFetch(), a fetch() over node:https
// with the dev certificate as the only CA.  The libraries under test take it through
// their customFetch option; everything else (Request, Response, Headers) is the
// platform's.  Rules as in tests/integ/conftest.py: every wait polls a condition against
// a deadline, every test file owns its port and directory.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const TESSERAD = process.env.TESSERAD || path.resolve(HERE, '../../../build/tesserad');

const START_TIMEOUT_MS = 30_000; // exec to every worker serving (RSA key generation included)
const STOP_TIMEOUT_MS = 15_000; // SIGTERM to exit; the default drain_timeout is 10 s
const IO_TIMEOUT_MS = 10_000; // one request

/** Polls cond() (sync or async) until it returns a truthy value, or throws at the deadline. */
export async function waitFor(cond, timeoutMs, what, intervalMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** A loopback port nothing listens on right now: listen on port 0, read it, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A fetch() that trusts only `ca` (PEM).  fresh: every request on a new TCP+TLS
 * connection (no agent); otherwise keep-alive connections are reused.
 */
export function tlsFetch(ca, { fresh = false } = {}) {
  const agent = fresh ? false : new https.Agent({ keepAlive: true, ca, maxSockets: 4 });
  const fetchImpl = async (input, init) => {
    const req = new Request(input, init); // the platform's rules for bodies and headers
    const body = req.body === null ? null : Buffer.from(await req.arrayBuffer());
    const headers = {};
    for (const [k, v] of req.headers) headers[k] = v;
    if (body !== null) headers['content-length'] = String(body.length);
    const signal = init?.signal ?? undefined;
    return new Promise((resolve, reject) => {
      const r = https.request(
        req.url,
        { method: req.method, headers, agent, ca, signal, timeout: IO_TIMEOUT_MS },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const h = new Headers();
            for (let i = 0; i < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
            const nullBody = [101, 204, 205, 304].includes(res.statusCode) || req.method === 'HEAD';
            resolve(new Response(nullBody ? null : Buffer.concat(chunks), {
              status: res.statusCode, statusText: res.statusMessage, headers: h,
            }));
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error(`no answer from ${req.url} in ${IO_TIMEOUT_MS} ms`)));
      r.on('error', reject);
      r.end(body ?? undefined);
    });
  };
  fetchImpl.close = () => { if (agent) agent.destroy(); };
  return fetchImpl;
}

function processGroup(pgid) {
  // Live (non-zombie) processes of a process group, from /proc (Linux).
  const pids = [];
  let entries = [];
  try { entries = readdirSync('/proc'); } catch { return pids; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${e}/stat`, 'utf8'); } catch { continue; }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') pids.push(Number(e));
  }
  return pids;
}

/** One tesserad --dev (master and workers, in their own process group). */
export class Server {
  constructor() {
    this.proc = null;
    this.exit = null; // {code, signal} once exited
  }

  /** Starts tesserad on a free port in a fresh mkdtemp directory; resolves when serving. */
  async start({ workers = 2 } = {}) {
    this.root = await mkdtemp(path.join(os.tmpdir(), 'tessera-node-'));
    this.dataDir = path.join(this.root, 'data');
    this.stderrPath = path.join(this.root, 'stderr.txt');
    this.workers = workers;
    // A port taken by another program between freePort() and the bind: retry, twice.
    for (let attempt = 0; ; attempt++) {
      this.port = await freePort();
      this.launch();
      try {
        await this.waitReady();
        break;
      } catch (err) {
        const inUse = this.stderr().includes(`:${this.port}) failed: Address already in use`);
        if (attempt < 2 && this.exit && inUse) continue;
        const log = this.stderr();
        await this.stop().catch(() => {});
        throw new Error(`${err.message}\n--- tesserad stderr ---\n${log}`);
      }
    }
    this.url = `https://127.0.0.1:${this.port}`;
    this.ca = readFileSync(path.join(this.dataDir, 'dev-cert.pem'));
    this.adminToken = readFileSync(path.join(this.dataDir, 'admin.token'), 'utf8').trim();
    this.fetch = tlsFetch(this.ca);
    this.freshFetch = tlsFetch(this.ca, { fresh: true });
    this.metadata = await (await this.fetch(`${this.url}/.well-known/oauth-authorization-server`)).json();
    return this;
  }

  launch() {
    const args = ['--dev', '--data-dir', this.dataDir, '--listen', `127.0.0.1:${this.port}`,
      '--workers', String(this.workers)];
    const err = openSync(this.stderrPath, 'w');
    this.exit = null;
    this.proc = spawn(TESSERAD, args, { stdio: ['ignore', 'ignore', err], detached: true });
    closeSync(err);
    this.pgid = this.proc.pid;
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (e) => { this.exit = { code: null, signal: null, error: e }; resolve(this.exit); });
      this.proc.on('exit', (code, signal) => { this.exit = { code, signal }; resolve(this.exit); });
    });
    // Never leave a server behind if this test process dies without its after hook.
    const pgid = this.pgid;
    if (this.killGroup) process.removeListener('exit', this.killGroup); // an earlier attempt's
    this.killGroup = () => { if (pgid) try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ } };
    process.once('exit', this.killGroup);
  }

  stderr() {
    try { return readFileSync(this.stderrPath, 'utf8'); } catch { return ''; }
  }

  async waitReady() {
    const cert = path.join(this.dataDir, 'dev-cert.pem');
    let probe = null;
    await waitFor(async () => {
      if (this.exit) {
        throw new Error(`tesserad exited (${JSON.stringify(this.exit.code ?? this.exit.signal ?? String(this.exit.error))}) while starting`);
      }
      // Every worker logs that it serves; then /healthz answers over TLS.
      const serving = (this.stderr().match(/ worker: serving /g) || []).length;
      if (serving < this.workers || !existsSync(cert)) return false;
      probe ??= tlsFetch(readFileSync(cert), { fresh: true });
      try {
        const r = await probe(`https://127.0.0.1:${this.port}/healthz`);
        await r.arrayBuffer();
        return r.status === 200;
      } catch {
        return false;
      }
    }, START_TIMEOUT_MS, `tesserad (${TESSERAD}) to serve /healthz on port ${this.port}`);
  }

  /** SIGTERM, then waits for the exit; throws unless it exits 0 leaving no process. */
  async stop() {
    this.fetch?.close();
    if (!this.proc) return;
    const problems = [];
    if (!this.exit) {
      this.proc.kill('SIGTERM');
      const timeout = sleep(STOP_TIMEOUT_MS, 'timeout', { ref: false });
      if ((await Promise.race([this.exited, timeout])) === 'timeout') {
        problems.push(`tesserad ignored SIGTERM for ${STOP_TIMEOUT_MS} ms`);
        this.killGroup();
        await this.exited;
      }
    } else if (this.exit.error === undefined) {
      problems.push('tesserad exited before it was stopped');
    }
    if (this.exit.code !== 0) problems.push(`tesserad exited with ${this.exit.code ?? this.exit.signal ?? this.exit.error}`);
    try {
      await waitFor(() => processGroup(this.pgid).length === 0, 5_000, 'tesserad workers to exit');
    } catch {
      problems.push(`processes left behind: ${processGroup(this.pgid)}`);
      this.killGroup();
    }
    process.removeListener('exit', this.killGroup);
    const log = this.stderr();
    const deaths = log.split('\n').filter((l) => /worker\/\d+ \(pid \d+\) (killed by signal|exited with)/.test(l));
    if (deaths.length) problems.push(`unexpected worker deaths:\n${deaths.join('\n')}`);
    this.proc = null;
    await rm(this.root, { recursive: true, force: true });
    if (problems.length) throw new Error(`${problems.join('; ')}\n--- tesserad stderr ---\n${log}`);
  }

  /** The secret --dev wrote for a demo client. */
  async demoSecret(name = 'demo-client.secret') {
    return (await readFile(path.join(this.dataDir, name), 'utf8')).trim();
  }

  /** An admin API call; resolves {status, headers, body (parsed JSON or null)}. */
  async admin(method, pathname, body) {
    const headers = { authorization: `Bearer ${this.adminToken}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await this.fetch(this.url + pathname, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
  }

  /** POST /admin/clients; asserts 201; returns the answer (with client_secret). */
  async createClient(fields) {
    const r = await this.admin('POST', '/admin/clients', fields);
    if (r.status !== 201) throw new Error(`POST /admin/clients: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** GET /oauth2/validate with a bearer token; each call on a new connection when fresh. */
  async validate(token, { fresh = true, query = '' } = {}) {
    const f = fresh ? this.freshFetch : this.fetch;
    const r = await f(`${this.url}/oauth2/validate${query}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
  }
}

/**
 * {status, error, challenges} of an error thrown by oauth4webapi or openid-client for an
 * OAuth error response.  A 401 carrying WWW-Authenticate comes as a
 * WWWAuthenticateChallengeError whose body the library leaves unread: read it here.
 */
export async function oauthError(err) {
  if (err?.code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE') {
    const body = await err.response.json();
    return { status: err.status, error: body.error, challenges: err.cause };
  }
  if (err?.code === 'OAUTH_RESPONSE_BODY_ERROR') {
    return { status: err.status, error: err.error, challenges: undefined };
  }
  throw err;
}

/** The error a promise rejects with; fails when it fulfils. */
export async function rejection(promise) {
  let value;
  try {
    value = await promise;
  } catch (err) {
    return err;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
}
