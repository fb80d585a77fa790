// The example host's page: its own login, then the unmodified auth0-guardian-js
// (window.auth0GuardianJS, bundled from npm) against <host>/mfa with polling, then
// the result signature to the host's /mfa-done. Errors are shown in the words of
// the service's error catalogue (GET <service>/api/errors), chosen by errorCode.
'use strict';

(function () {
  var $ = function (id) { return document.getElementById(id); };
  // What fills the catalogue's {placeholders}: this page only does TOTP.
  var FILL = { method: 'authenticator app', length: '6', field: 'code' };
  var userMessages = null; // errorCode -> the catalogue's user message
  var onCode = null; // what the code form does now: confirm an enrollment or verify a login
  var current = null; // the client of the latest sign-in; an older one is abandoned

  function show(id, on) { $(id).hidden = !on; }
  function status(text) { $('status').textContent = text; }

  function reset() {
    ['enroll', 'code-form', 'recovery', 'error', 'signed-in'].forEach(function (id) {
      show(id, false);
    });
    $('code').value = '';
    onCode = null;
    status('');
  }

  async function loadMessages(serviceUrl) {
    if (userMessages) return;
    var r = await fetch(serviceUrl + '/api/errors');
    var list = await r.json();
    userMessages = {};
    list.forEach(function (e) { userMessages[e.code] = e.user_message; });
  }

  // A GuardianError carries errorCode; a failed poll is the raw superagent error,
  // with the service's body in response.body; /login and /mfa-done answer the body.
  function showError(err) {
    var body = (err && err.response && err.response.body) || err || {};
    var code = (err && err.errorCode) || body.errorCode;
    var text = userMessages && code && userMessages[code];
    if (text) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) { return FILL[name] || m; });
    } else {
      // Not one of the service's codes (the client's own checks): its own words.
      text = (err && err.message) || body.message || 'Something went wrong.';
    }
    $('error').textContent = text;
    $('error').dataset.code = code || '';
    show('error', true);
    status('');
  }

  function cb2p(fn) {
    return new Promise(function (resolve, reject) {
      fn(function (err, value) { if (err) reject(err); else resolve(value); });
    });
  }

  // The library's poller has no "ready" event. Until its first transaction-state
  // answer is stored, a confirmed enrollment would be in that first answer, which
  // never yields enrollment-complete, and auth-response would then wait forever
  // (docs/contract/guardian-wire.md §4.2). So the code form opens only after it.
  async function firstPoll(client) {
    var poller = client.socketClient;
    while (poller && 'state' in poller && poller.state === null) {
      await new Promise(function (r) { setTimeout(r, 50); });
    }
  }

  async function finish(signature) {
    status('Checking the result…');
    var r = await fetch('/mfa-done', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ signature: signature }),
    });
    if (!r.ok) return showError(await r.json());
    var me = await (await fetch('/me')).json();
    show('enroll', false);
    show('code-form', false);
    status('');
    $('signed-in').textContent = 'Signed in as ' + me.user;
    show('signed-in', true);
  }

  async function enroll(tx) {
    var flow = await cb2p(function (cb) { tx.enroll('otp', {}, cb); });
    $('otp-secret').textContent = flow.getData().otpSecret;
    $('qr').src = '/qr.svg?uri=' + encodeURIComponent(flow.getUri());
    show('enroll', true);
    onCode = function (otpCode) {
      return cb2p(function (cb) { flow.confirm({ otpCode: otpCode }, cb); });
    };
  }

  async function login(tx) {
    var enrollment = tx.getEnrollments()[0];
    var authFlow = await cb2p(function (cb) {
      tx.requestAuth(enrollment, { method: 'otp' }, cb);
    });
    onCode = function (otpCode) {
      return cb2p(function (cb) { authFlow.verify({ otpCode: otpCode }, cb); });
    };
  }

  // A sign-in started again abandons the previous transaction: its poller is
  // stopped (guardian-wire.md §8: the same object as the transaction's receiver)
  // and its late events, such as the token's timeout, are ignored below.
  function abandon() {
    if (current && current.socketClient && current.socketClient.closeConnection) {
      current.socketClient.closeConnection();
    }
    current = null;
  }

  async function signIn(event) {
    event.preventDefault();
    abandon();
    reset();
    status('Signing in…');
    var r = await fetch('/login?user=' + encodeURIComponent($('user').value.trim()));
    var answer = await r.json();
    if (!r.ok) return showError(answer);
    await loadMessages(answer.service_url);
    var client = window.auth0GuardianJS({
      serviceUrl: answer.service_url,
      requestToken: answer.request_token,
      transport: 'polling',
      issuer: { name: 'example', label: 'Example Inc' },
      accountLabel: answer.user,
    });
    current = client;
    var live = function () { return current === client; };
    var tx = await cb2p(function (cb) { client.start(cb); });
    // Listeners at once: an 'error' nobody listens to is thrown by the library.
    tx.on('error', function (err) { if (live()) showError(err); });
    tx.on('timeout', function () {
      if (live()) showError({ message: 'This sign-in took too long. Please sign in again.' });
    });
    tx.on('enrollment-complete', function (payload) {
      if (!live()) return;
      show('enroll', false);
      if (payload.recoveryCode) {
        $('recovery-code').textContent = payload.recoveryCode;
        show('recovery', true);
      }
    });
    tx.on('auth-response', function (payload) {
      if (!live()) return;
      if (payload.accepted) finish(payload.signature).catch(showError);
      else showError({ message: 'The sign-in was refused.' });
    });
    await firstPoll(client);
    if (!live()) return;
    if (tx.isEnrolled()) await login(tx);
    else await enroll(tx);
    status('');
    show('code-form', true);
    $('code').focus();
  }

  async function submitCode(event) {
    event.preventDefault();
    if (!onCode) return;
    show('error', false);
    status('Checking the code…');
    try {
      await onCode($('code').value.replace(/\s+/g, ''));
      // Accepted: the result arrives with the next poll (auth-response).
      status('Code accepted, finishing…');
    } catch (err) {
      showError(err);
      $('code').select();
    }
  }

  $('login').addEventListener('submit', function (e) { signIn(e).catch(showError); });
  $('code-form').addEventListener('submit', function (e) { submitCode(e).catch(showError); });
})();
