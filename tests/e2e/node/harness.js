'use strict';
/*
 * Drives the unmodified npm client auth0-guardian-js@1.4.1 (transport 'polling') against the
 * mfa service at $BASE. Spoken to by tests/e2e/test_guardian_js.py over JSON lines:
 *
 *   stdin  (Python -> node)  commands, one per line, run one after the other:
 *     {"cmd": "enroll", "user": "u1", "method": "otp"}
 *     {"cmd": "enroll", "user": "u1", "method": "sms", "phoneNumber": "+14155552671"}
 *     {"cmd": "login", "user": "u1", "method": "otp", "otpSecret": "...", "wrongCodeFirst": true}
 *     {"cmd": "login", "user": "u1", "method": "sms"}
 *     {"cmd": "enroll", "user": "u1", "method": "push", "pushAnswer": "accept"}
 *     {"cmd": "login", "user": "u1", "method": "push", "pushAnswer": "accept" | "reject"}
 *     {"cmd": "login", "user": "u1", "method": "recovery-code", "recoveryCode": "...",
 *      "expectError": true}
 *     {"cmd": "exit"}
 *   and the answers to node's questions: {"request_token": "..."} / {"sms_code": "..."} /
 *   {"phone_enrolled": "..."} / {"push_answered": "..."}.
 *
 *   stdout (node -> Python)  one JSON object per line:
 *     {"need": "request_token", "user": "u1"}   start-flow needs a request token
 *     {"need": "sms_code", "user": "u1"}        the SMS was sent (204); read it from the outbox
 *     {"need": "phone_enrolled", "uri": ...}    the QR URI is shown: let the phone enroll from it
 *     {"need": "push_answered", "answer": ...}   the push was sent (204): let the phone answer it
 *     {"event": "started", ...}                 start-flow answer as the client saw it
 *     {"event": "enrollment-complete", ...} / {"event": "auth-response", ...}
 *     {"event": "confirm-error" | "verify-error" | "tx-error" | "timeout", ...}
 *     {"event": "done", "cmd": ..., "ms": ...}  the command finished as planned
 *     {"event": "failed", "cmd": ..., "message": ...}  it did not; the process goes on
 *     {"event": "fatal", "message": ...}        global timeout or broken input; exit code 2
 *
 * The TOTP codes are computed here (RFC 6238). The server refuses a TOTP step it has already
 * accepted, so each code uses a step later than the last one this process used for that secret
 * (the next step is accepted at once: the server allows +-1 step).
 *
 * Everything stderr gets is diagnostics only.
 */
const crypto = require('crypto');
const readline = require('readline');
const guardianJs = require('auth0-guardian-js');
const httpClientFactory = require('auth0-guardian-js/lib/utils/http_client');
const pollingClientFactory = require('auth0-guardian-js/lib/utils/polling_client');

const BASE = process.env.BASE;
const GLOBAL_TIMEOUT_MS = Number(process.env.HARNESS_TIMEOUT_MS || 30000);
const STEP_TIMEOUT_MS = Number(process.env.HARNESS_STEP_TIMEOUT_MS || 10000);
const POLLING_INTERVAL_MS = 300;

// ------------------------------------------------------------------ I/O

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function diag(...args) {
  process.stderr.write(`[harness] ${args.join(' ')}\n`);
}

function fatal(message) {
  diag('FATAL', message);
  emit({ event: 'fatal', message });
  // Let stdout drain before exiting (a pipe write may be asynchronous).
  process.stdout.write('', () => process.exit(2));
  setTimeout(() => process.exit(2), 500).unref();
}

const globalTimer = setTimeout(
  () => fatal(`global timeout: still running after ${GLOBAL_TIMEOUT_MS} ms`),
  GLOBAL_TIMEOUT_MS
);
globalTimer.unref();

const lines = [];
const lineWaiters = [];
let stdinClosed = false;
const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const waiter = lineWaiters.shift();
  if (waiter) waiter.resolve(line);
  else lines.push(line);
});
rl.on('close', () => {
  stdinClosed = true;
  while (lineWaiters.length) lineWaiters.shift().reject(new Error('stdin closed'));
});

function nextLine() {
  if (lines.length) return Promise.resolve(lines.shift());
  if (stdinClosed) return Promise.reject(new Error('stdin closed'));
  return new Promise((resolve, reject) => lineWaiters.push({ resolve, reject }));
}

async function nextMessage() {
  const line = await nextLine();
  try {
    return JSON.parse(line);
  } catch (e) {
    throw new Error(`not a JSON line on stdin: ${line}`);
  }
}

/** Print {"need": what, ...} and wait for the answer line, which must hold key `what`. */
async function ask(what, extra) {
  emit({ need: what, ...extra });
  const answer = await withTimeout(nextMessage(), STEP_TIMEOUT_MS, `the answer to need=${what}`);
  if (typeof answer[what] !== 'string' || !answer[what]) {
    throw new Error(`expected {"${what}": "..."} on stdin, got ${JSON.stringify(answer)}`);
  }
  return answer[what];
}

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const cb2p = (fn) => new Promise((res, rej) => fn((e, v) => (e ? rej(e) : res(v))));

/** A GuardianError, or the raw superagent error of a failed poll, as plain JSON. */
function describeError(e) {
  if (!e) return { message: String(e) };
  const body = (e.response && e.response.body) || {};
  return {
    name: e.name,
    errorCode: e.errorCode || body.errorCode || body.error_code,
    statusCode: e.statusCode || e.status,
    message: e.message,
  };
}

// RFC 6238: SHA-1, 6 digits, 30 s steps.
function totpAtStep(base32, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${base32}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, '0');
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30);
const lastStepUsed = new Map(); // otp secret -> the last TOTP step this process submitted

/** A code for a step never submitted before: the current step, or the next one (+1 is
 * accepted by the server), or, after two codes within one step, wait for the clock. */
async function freshTotp(secret) {
  for (;;) {
    const cur = currentStep();
    const last = lastStepUsed.has(secret) ? lastStepUsed.get(secret) : -Infinity;
    const step = Math.max(cur, last + 1);
    if (step <= cur + 1) {
      lastStepUsed.set(secret, step);
      return totpAtStep(secret, step);
    }
    const waitMs = (cur + 1) * 30000 - Date.now() + 50;
    diag(`waiting ${waitMs} ms for the next TOTP step`);
    await sleep(waitMs);
  }
}

/** Six digits that are no valid code for any step near now. */
function wrongTotp(secret) {
  const cur = currentStep();
  const near = new Set();
  for (let s = cur - 3; s <= cur + 3; s += 1) near.add(totpAtStep(secret, s));
  for (let i = 0; ; i += 1) {
    const candidate = String((123456 + i * 111111) % 1e6).padStart(6, '0');
    if (!near.has(candidate)) return candidate;
  }
}

// ------------------------------------------------------------------ transactions

/**
 * start() with the fast injected poller (guardian-wire.md §8), waiting for the first poll.
 * The http client is the library's own, wrapped only to keep the start-flow answer.
 */
async function startTransaction(user) {
  const requestToken = await ask('request_token', { user });
  const hc = httpClientFactory(BASE);
  const seen = { startFlow: null };
  const originalPost = hc.post;
  hc.post = function post(path, credentials, data, options, callback) {
    if (String(path).replace(/^\/+/, '') !== 'api/start-flow') {
      return originalPost.call(this, path, credentials, data, options, callback);
    }
    const cb = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'function' ? {} : options;
    return originalPost.call(this, path, credentials, data, opts, (err, body) => {
      if (!err) seen.startFlow = body;
      cb(err, body);
    });
  };
  const pc = pollingClientFactory(BASE, {
    httpClient: hc,
    pollingIntervalMs: POLLING_INTERVAL_MS,
    minPollingIntervalMs: 200,
  });
  const client = guardianJs({
    serviceUrl: BASE,
    transport: 'polling',
    requestToken,
    issuer: { name: 'acme', label: 'Acme Inc' },
    accountLabel: `${user}@example.com`,
    dependencies: { httpClient: hc, socketClient: pc },
  });
  const tx = await withTimeout(
    cb2p((cb) => client.start(cb)),
    STEP_TIMEOUT_MS,
    'start() callback'
  );
  const rec = watch(tx); // listeners first: a failed first poll emits 'error' on tx
  const handle = { client, tx, rec };
  try {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    // Pitfall §8: nothing may change the server state before the first poll's answer is in.
    while (client.socketClient.state === null) {
      rec.throwIfBroken('the first transaction-state poll');
      if (Date.now() > deadline) throw new Error('the first transaction-state poll never answered');
      await sleep(10);
    }
  } catch (e) {
    dispose(handle);
    throw e;
  }
  const da = (seen.startFlow && seen.startFlow.deviceAccount) || {};
  emit({
    event: 'started',
    user,
    txId: tx.txId,
    enrolled: tx.isEnrolled(),
    firstPollState: client.socketClient.state,
    availableEnrollmentMethods: tx.getAvailableEnrollmentMethods() || null,
    availableAuthenticationMethods: tx.getAvailableAuthenticationMethods() || null,
    deviceAccount: da,
    enrollments: tx.getEnrollments().map((e) => e.serialize()),
  });
  return handle;
}

/** Record the transaction's events, print them, and let commands wait for them. */
function watch(tx) {
  const seen = [];
  const waiters = new Set();
  const rec = { disposed: false, seen };
  const record = (name, payload) => {
    if (rec.disposed) {
      diag(`ignored ${name} of disposed transaction ${tx.txId}`);
      return;
    }
    seen.push({ name, payload });
    emit({ event: name, txId: tx.txId, ...format(name, payload) });
    for (const w of [...waiters]) w();
  };
  tx.on('enrollment-complete', (p) => record('enrollment-complete', p));
  tx.on('auth-response', (p) => record('auth-response', p));
  tx.on('error', (e) => record('tx-error', e)); // mandatory: no listener = crash
  tx.on('timeout', () => record('timeout', null));

  rec.broken = () => seen.find((s) => s.name === 'tx-error' || s.name === 'timeout');
  rec.throwIfBroken = (what) => {
    const bad = rec.broken();
    if (bad) throw new Error(`${bad.name} while waiting for ${what}: ${JSON.stringify(format(bad.name, bad.payload))}`);
  };
  rec.wait = (name, ms = STEP_TIMEOUT_MS) =>
    new Promise((resolve, reject) => {
      let timer = null;
      const check = () => {
        const hit = seen.find((s) => s.name === name);
        try {
          if (!hit) rec.throwIfBroken(name);
        } catch (e) {
          finish();
          reject(e);
          return;
        }
        if (hit) {
          finish();
          resolve(hit.payload);
        }
      };
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${name} event within ${ms} ms`));
      }, ms);
      waiters.add(check);
      check();
    });
  return rec;
}

function format(name, payload) {
  switch (name) {
    case 'enrollment-complete':
      return {
        recoveryCode: payload.recoveryCode,
        authRequired: payload.authRequired,
        enrollment: payload.enrollment ? payload.enrollment.serialize() : null,
      };
    case 'auth-response':
      return {
        accepted: payload.accepted,
        signature: payload.signature,
        hasRecoveryCodeKey: Object.prototype.hasOwnProperty.call(payload, 'recoveryCode'),
        recoveryCode: payload.recoveryCode === undefined ? null : payload.recoveryCode,
      };
    case 'tx-error':
      return { error: describeError(payload) };
    default:
      return {};
  }
}

/** Stop the poller and the two JWT exp timers (pitfall §8: they keep node alive). */
function dispose({ client, tx, rec }) {
  rec.disposed = true;
  client.socketClient.closeConnection();
  clearTimeout(client.credentials.expirationTimeout);
  clearTimeout(tx.transactionToken.expirationTimeout);
}

// ------------------------------------------------------------------ commands

async function enroll(cmd) {
  const handle = await startTransaction(cmd.user);
  const { tx, rec } = handle;
  try {
    if (tx.isEnrolled()) throw new Error('start-flow said the user is already enrolled');
    if (cmd.method === 'push') return await enrollPush(cmd, handle);
    const data = cmd.method === 'sms' ? { phoneNumber: cmd.phoneNumber } : {};
    const flow = await withTimeout(
      cb2p((cb) => tx.enroll(cmd.method, data, cb)),
      STEP_TIMEOUT_MS,
      'enroll() callback'
    );
    let otpCode;
    let otpSecret = null;
    if (cmd.method === 'otp') {
      otpSecret = flow.getData().otpSecret;
      otpCode = await freshTotp(otpSecret);
    } else {
      otpCode = await ask('sms_code', { user: cmd.user, phoneNumber: cmd.phoneNumber });
    }
    emit({ event: 'confirming', method: cmd.method, otpSecret, uri: flow.getUri() });
    let accepted;
    try {
      accepted = await withTimeout(
        cb2p((cb) => flow.confirm({ otpCode }, cb)),
        STEP_TIMEOUT_MS,
        'confirm() callback'
      );
    } catch (e) {
      emit({ event: 'confirm-error', error: describeError(e) });
      throw e;
    }
    emit({ event: 'confirm-accepted', recoveryCode: accepted && accepted.recoveryCode });
    await rec.wait('enrollment-complete');
    await rec.wait('auth-response');
    return { otpSecret };
  } finally {
    dispose(handle);
  }
}

/** Push enrollment: the phone enrolls from the QR URI, then push login on the same transaction
 * (guardian-wire §3.1, §5): enrollment-complete says authRequired, requestAuth defaults to push. */
async function enrollPush(cmd, handle) {
  const { tx, rec } = handle;
  const flow = await withTimeout(
    cb2p((cb) => tx.enroll('push', {}, cb)),
    STEP_TIMEOUT_MS,
    'enroll() callback'
  );
  const data = flow.getData();
  emit({ event: 'confirming', method: 'push', otpSecret: data.otpSecret, uri: flow.getUri() });
  await ask('phone_enrolled', { user: cmd.user, uri: flow.getUri() });
  const complete = await rec.wait('enrollment-complete');
  const authFlow = await withTimeout(
    cb2p((cb) => tx.requestAuth(complete.enrollment, cb)), // default method: push
    STEP_TIMEOUT_MS,
    'requestAuth() callback'
  );
  authFlow.verify({}); // a no-op for push that registers the listeners
  await ask('push_answered', { user: cmd.user, answer: cmd.pushAnswer || 'accept' });
  await rec.wait('auth-response');
  return { otpSecret: data.otpSecret };
}

async function login(cmd) {
  const handle = await startTransaction(cmd.user);
  const { tx, rec } = handle;
  try {
    if (!tx.isEnrolled()) throw new Error('start-flow said the user is not enrolled');
    const enrollment = tx.getEnrollments()[0];
    const authFlow = await withTimeout(
      cb2p((cb) => tx.requestAuth(enrollment, { method: cmd.method }, cb)),
      STEP_TIMEOUT_MS,
      'requestAuth() callback'
    );
    const verify = async (data) => {
      try {
        return await withTimeout(
          cb2p((cb) => authFlow.verify(data, cb)),
          STEP_TIMEOUT_MS,
          'verify() callback'
        );
      } catch (e) {
        emit({ event: 'verify-error', error: describeError(e) });
        throw e;
      }
    };

    if (cmd.method === 'push') {
      authFlow.verify({}); // a no-op for push that registers the listeners
      await ask('push_answered', { user: cmd.user, answer: cmd.pushAnswer || 'accept' });
    } else if (cmd.method === 'recovery-code') {
      if (cmd.expectError) {
        await verify({ recoveryCode: cmd.recoveryCode }).then(
          () => {
            throw new Error('the recovery code was accepted');
          },
          () => {}
        );
        return {};
      }
      const accepted = await verify({ recoveryCode: cmd.recoveryCode });
      emit({ event: 'verify-accepted', recoveryCode: accepted.recoveryCode || null });
    } else {
      const otpCode =
        cmd.method === 'otp'
          ? await freshTotp(cmd.otpSecret)
          : await ask('sms_code', { user: cmd.user });
      if (cmd.wrongCodeFirst) {
        let wrong = cmd.method === 'otp' ? wrongTotp(cmd.otpSecret) : '000000';
        if (wrong === otpCode) wrong = '111111';
        await verify({ otpCode: wrong }).then(
          () => {
            throw new Error(`the wrong code ${wrong} was accepted`);
          },
          () => {}
        );
      }
      const accepted = await verify({ otpCode });
      emit({ event: 'verify-accepted', recoveryCode: (accepted && accepted.recoveryCode) || null });
    }
    await rec.wait('auth-response');
    return {};
  } finally {
    dispose(handle);
  }
}

const COMMANDS = { enroll, login };

async function main() {
  if (!BASE) throw new Error('BASE (the service URL) is not set');
  emit({ event: 'ready', base: BASE, pollingIntervalMs: POLLING_INTERVAL_MS });
  for (;;) {
    let cmd;
    try {
      cmd = await nextMessage();
    } catch (e) {
      if (stdinClosed) return; // EOF: we are done
      throw e;
    }
    if (cmd.cmd === 'exit') return;
    const run = COMMANDS[cmd.cmd];
    const t0 = Date.now();
    if (!run) {
      emit({ event: 'failed', cmd: cmd.cmd, message: `unknown command ${JSON.stringify(cmd)}` });
      continue;
    }
    try {
      const result = await run(cmd);
      emit({ event: 'done', cmd: cmd.cmd, ms: Date.now() - t0, ...result });
    } catch (e) {
      diag(`${cmd.cmd} failed:`, (e && e.stack) || e);
      emit({
        event: 'failed',
        cmd: cmd.cmd,
        ms: Date.now() - t0,
        message: e && e.message,
        error: describeError(e),
      });
    }
  }
}

main().then(
  () => {
    rl.close();
    clearTimeout(globalTimer);
    process.stdout.write('', () => process.exit(0));
  },
  (e) => fatal((e && e.stack) || String(e))
);
