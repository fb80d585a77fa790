// The hosted pages' script. It speaks the factor protocol of guardian-wire §2
// (verify-otp, sms-enroll, send-sms, send-push-notification, recover-account,
// transaction-state) with the transaction token the server put in the page, and
// hands the result back to the host through the page's return form. A push answer
// arrives on the phone's side, so the page learns it by polling transaction-state
// (no websocket: the CSP allows nothing but same-origin fetches). No framework, no
// build step, no globals.
'use strict';
(function () {
  var data = JSON.parse(document.getElementById('mfa-data').textContent);
  var M = data.messages;
  var api = new URL('../api/', window.location.href);
  // Transactions that cannot go on: the page offers only the way back.
  var FINAL = [
    'invalid_token', 'transaction_expired', 'login_transaction_not_found',
    'enrollment_transaction_not_found', 'tenant_not_found', 'enrollment_conflict',
    'already_enrolled', 'not_enrolled', 'no_method_available', 'invalid_enrollment',
    'invalid_bearer_format', 'feature_disabled_by_admin'
  ];
  var current = null; // the method on screen
  var signature = null; // the result, once accepted
  var finalCode = null;
  var waitTimer = null;
  // Guardian's own clients poll every 2 s at the fastest (guardian-wire §4.1).
  var POLL_MS = 2000;
  var pollTimer = null;
  var pollRun = 0; // bumped to stop a poll loop whose request is still in flight
  var pushSent = false;
  var finished = false;

  function $(id) { return document.getElementById(id); }

  // A GET entry carried the token in the URL: drop it from the address bar and history.
  if (window.location.search) {
    window.history.replaceState(null, '', window.location.pathname);
  }

  function show(id) {
    var screens = document.querySelectorAll('.screen');
    for (var i = 0; i < screens.length; i++) screens[i].hidden = screens[i].id !== id;
    var screen = $(id);
    var first = screen.querySelector('input:not([type=hidden]):not([hidden]), h2');
    if (first) first.focus();
  }

  function say(text) { $('mfa-error').textContent = text || ''; }
  function status(text) { $('mfa-status').textContent = text || ''; }

  function words(code, err) {
    var text = M.errors[code] || M.errors.internal_error;
    var method = (err && err.method) || current || '';
    var length = current === 'sms' ? data.otpLength : 6;
    return text
      .replace('{method}', M.methods[method] || method)
      .replace('{length}', String(length))
      .replace('{field}', M.fields[(err && err.field) || ''] || (err && err.field) || '')
      .replace('{retry_after}', String((err && err.retryAfter) || 60));
  }

  async function call(path, body) {
    var response;
    try {
      response = await fetch(new URL(path, api), {
        method: 'POST',
        credentials: 'omit',
        cache: 'no-store',
        headers: body === undefined
          ? { Authorization: 'Bearer ' + data.token }
          : { Authorization: 'Bearer ' + data.token, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body)
      });
    } catch (e) {
      throw { code: 'service_unavailable' };
    }
    var json = null;
    if (response.status !== 204) {
      try { json = await response.json(); } catch (e) { json = null; }
    }
    if (response.ok) return json;
    var retry = parseInt(response.headers.get('Retry-After') || '', 10);
    throw {
      code: (json && json.errorCode) || 'internal_error',
      field: json && json.field,
      method: json && json.method,
      retryAfter: isNaN(retry) ? null : retry
    };
  }

  function fail(err) {
    var code = (err && err.code) || 'internal_error';
    status('');
    if (FINAL.indexOf(code) >= 0) {
      stopPolling();
      finalCode = code;
      show('screen-final');
      $('other-method').hidden = true;
      say(words(code, err));
      return;
    }
    say(words(code, err));
    if (err && err.retryAfter) {
      if (code.indexOf('too_many_sms') === 0) holdSends(err.retryAfter, SMS_HOLD);
      if (code.indexOf('too_many_pn') === 0) holdSends(err.retryAfter, PUSH_HOLD);
    }
  }

  function busy(on) {
    // Clear only our own "please wait": a step may have put its own news there.
    if (on) status(M.ui.working);
    else if ($('mfa-status').textContent === M.ui.working) status('');
    var buttons = document.querySelectorAll('main button');
    for (var i = 0; i < buttons.length; i++) {
      if (on) { buttons[i].dataset.wasDisabled = buttons[i].disabled ? '1' : ''; buttons[i].disabled = true; }
      else if (buttons[i].dataset.wasDisabled !== undefined) {
        buttons[i].disabled = buttons[i].dataset.wasDisabled === '1';
        delete buttons[i].dataset.wasDisabled;
      }
    }
  }

  async function step(work) {
    say('');
    busy(true);
    // busy(false) before fail(): a quota refusal then keeps its send buttons held.
    try { await work(); busy(false); } catch (err) { busy(false); fail(err); }
  }

  // After a right answer the transaction is accepted at once; a few short polls
  // cover a store that answers the state a moment later.
  async function accepted() {
    for (var i = 0; i < 20; i++) {
      var state = await call('transaction-state');
      if (state.state === 'accepted') return state.token;
      if (state.state === 'rejected') throw { code: 'invalid_otp' };
      await new Promise(function (r) { setTimeout(r, 500); });
    }
    throw { code: data.mode === 'enroll' ? 'enrollment_transaction_not_found' : 'login_transaction_not_found' };
  }

  function giveBack(name, value) {
    var form = $('mfa-return');
    var input = form.querySelector('input[name=' + name + ']');
    input.value = value;
    input.disabled = false;
    form.submit();
  }

  function finish(token) {
    // Once only: after a push the user may also have typed a code, and both the
    // code's check and the push poll then see the transaction accepted.
    if (finished) return;
    finished = true;
    stopPolling();
    show('screen-done');
    $('other-method').hidden = true;
    $('cancel').hidden = true;
    giveBack('result', token);
  }

  function showRecovery(code, fresh) {
    stopPolling();
    $('recovery-code').textContent = code;
    if (fresh) $('recovery-show-intro').textContent = $('recovery-show-intro').dataset.new;
    // Accepted already: cancelling now would tell the host the opposite of the truth.
    $('other-method').hidden = true;
    $('cancel').hidden = true;
    show('screen-recovery-show');
  }

  function choose(method) {
    current = method;
    say('');
    if (!pushSent) stopPolling(); // an enrollment poll belongs to its screen
    $('other-method').hidden = data.methods.length < 2;
    if (data.mode === 'enroll') {
      show('screen-' + method + '-enroll');
      if (method === 'push') pollEnrollment();
    } else {
      show('screen-' + method);
    }
  }

  // A quota refusal holds the send buttons, with a countdown from Retry-After.
  var SMS_HOLD = { buttons: ['sms-send', 'sms-resend'], note: 'sms-wait', text: 'sms_wait' };
  var PUSH_HOLD = { buttons: ['push-send', 'push-resend'], note: 'push-wait', text: 'push_wait' };
  function holdSends(seconds, hold) {
    var buttons = hold.buttons.map($).filter(Boolean);
    var note = $(hold.note);
    var left = seconds;
    clearInterval(waitTimer);
    function tick() {
      buttons.forEach(function (b) { b.disabled = left > 0; });
      if (note) {
        note.hidden = left <= 0;
        note.textContent = M.ui[hold.text].replace('{seconds}', String(left));
      }
      if (left <= 0) clearInterval(waitTimer);
      left -= 1;
    }
    tick();
    waitTimer = setInterval(tick, 1000);
  }

  // ---- push --------------------------------------------------------------------

  function stopPolling() {
    pollRun += 1;
    clearTimeout(pollTimer);
  }

  // Polls transaction-state until `check` says done (returns true). A transaction
  // that cannot go on ends the loop with its words; a passing failure (network,
  // a busy service) is shown and the loop goes on, as Guardian's clients do.
  function poll(check) {
    stopPolling();
    var run = pollRun;
    async function tick() {
      var state;
      try {
        state = await call('transaction-state');
      } catch (err) {
        if (run !== pollRun) return;
        if (FINAL.indexOf(err.code) >= 0) { stopPolling(); fail(err); return; }
        say(words(err.code, err));
        pollTimer = setTimeout(tick, POLL_MS);
        return;
      }
      if (run !== pollRun) return;
      if (!check(state)) pollTimer = setTimeout(tick, POLL_MS);
    }
    pollTimer = setTimeout(tick, POLL_MS);
  }

  // Enrollment: the phone scans the QR and enrolls; the transaction then shows the
  // enrollment and stays pending, asking for a push login (guardian-wire §2.6, §4).
  function pollEnrollment() {
    poll(function (state) {
      if (!state.enrollment) return false;
      // The phone holds the enrollment now; another method would be a second one.
      $('other-method').hidden = true;
      show('screen-push');
      step(async function () { await sendPush(); status(M.ui.push_enrolled); });
      return true;
    });
  }

  async function sendPush() {
    var answer = await call('send-push-notification');
    pushSent = true;
    $('push-send').hidden = true;
    $('push-waiting').hidden = false;
    // With number matching the phone asks which number the browser shows.
    var number = (answer && answer.number) || '';
    $('push-number').textContent = number;
    $('push-number-box').hidden = !number;
    pollAnswer();
  }

  function pollAnswer() {
    poll(function (state) {
      if (state.state === 'pending') return false;
      if (state.state === 'accepted') {
        if (data.mode === 'enroll') {
          signature = state.token;
          showRecovery(data.recoveryCode, false);
        } else {
          finish(state.token);
        }
        return true;
      }
      // rejected: denied on the phone (or the wrong number picked). The transaction
      // has ended, so the way on is back to the site, which can start a new one.
      status('');
      say('');
      $('other-method').hidden = true;
      $('cancel').hidden = true;
      show('screen-push-denied');
      return true;
    });
  }

  // ---- wiring ------------------------------------------------------------------

  var methodButtons = document.querySelectorAll('button.method');
  for (var i = 0; i < methodButtons.length; i++) {
    methodButtons[i].addEventListener('click', function (e) { choose(e.currentTarget.dataset.method); });
  }

  $('other-method').addEventListener('click', function () {
    say('');
    $('other-method').hidden = true;
    show('screen-choose');
  });

  $('cancel').addEventListener('click', function () { giveBack('error', 'cancelled'); });
  $('final-back').addEventListener('click', function () { giveBack('error', finalCode || 'internal_error'); });

  var codeForms = document.querySelectorAll('form.code-form');
  for (var j = 0; j < codeForms.length; j++) {
    codeForms[j].addEventListener('submit', function (e) {
      e.preventDefault();
      var input = e.currentTarget.querySelector('input[name=code]');
      step(async function () {
        await call('verify-otp', { type: 'manual_input', code: input.value.replace(/\s+/g, '') });
        var token = await accepted();
        if (data.mode === 'enroll') {
          signature = token;
          showRecovery(data.recoveryCode, false);
        } else {
          finish(token);
        }
      });
      input.value = '';
    });
  }

  if ($('sms-phone-form')) {
    $('sms-phone-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var phone = $('sms-phone').value.trim();
      step(async function () {
        await call('device-accounts/' + encodeURIComponent(data.enrollmentId) + '/sms-enroll', { phone_number: phone });
        $('sms-phone-form').hidden = true;
        $('sms-enroll-code-form').hidden = false;
        status(M.ui.sms_sent);
        $('sms-enroll-code').focus();
      });
    });
  }

  async function sendSms() {
    await call('send-sms');
    $('sms-send').hidden = true;
    $('sms-code-form').hidden = false;
    $('sms-resend').hidden = false;
    status(M.ui.sms_sent);
    $('sms-code').focus();
  }
  if ($('sms-send')) {
    $('sms-send').addEventListener('click', function () { step(sendSms); });
    $('sms-resend').addEventListener('click', function () { step(sendSms); });
  }

  if ($('push-send')) {
    $('push-send').addEventListener('click', function () { step(sendPush); });
    $('push-resend').addEventListener('click', function () { step(sendPush); });
    $('push-denied-back').addEventListener('click', function () { giveBack('error', 'rejected'); });
  }

  if ($('recovery-form')) {
    $('recovery-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var code = $('recovery-input').value.replace(/[\s-]+/g, '');
      step(async function () {
        var answer = await call('recover-account', { recovery_code: code });
        signature = await accepted();
        showRecovery(answer.recovery_code, true);
      });
    });
  }

  $('recovery-copy').addEventListener('click', function () {
    var code = $('recovery-code').textContent;
    var done = function () { status(M.ui.recovery_copied); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(code).then(done, function () { selectCode(); });
    } else {
      selectCode();
    }
  });
  function selectCode() {
    var range = document.createRange();
    range.selectNodeContents($('recovery-code'));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  $('recovery-saved').addEventListener('change', function (e) {
    $('recovery-continue').disabled = !e.currentTarget.checked;
  });
  $('recovery-continue').addEventListener('click', function () { finish(signature); });

  // ---- start -------------------------------------------------------------------
  if (data.methods.length === 1) choose(data.methods[0]);
  else if (data.mode === 'login') choose(data.methods[0]);
  else show('screen-choose');
})();
