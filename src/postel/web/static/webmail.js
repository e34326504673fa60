/* postel webmail: the per-recipient security bar (docs/webmail-security-api.md).
   No dependencies; talks only to /webmail/api/recipientsecurity. */
(function () {
  'use strict';
  var form = document.getElementById('compose');
  if (!form) { return; }
  var API = '/webmail/api/recipientsecurity?address=';
  var ASPECTS = [['starttls', 'STARTTLS'], ['mtasts', 'MTA-STS'], ['dnssec', 'DNSSEC'],
                 ['dane', 'DANE'], ['requiretls', 'REQUIRETLS']];
  var MEANING = {yes: 'yes', no: 'no', error: 'error (could not be determined)',
                 unknown: 'unknown'};
  var FIELDS = ['to', 'cc', 'bcc'];
  var DEBOUNCE_MS = 350;
  var cache = new Map();     // lower-cased address -> Promise of a result
  var results = new Map();   // lower-cased address -> result once known
  var rt = document.getElementById('requiretls');
  var rtHint = document.getElementById('requiretls-hint');
  var rtTouched = rt.checked;  // a choice made by the user (or a saved draft) wins
  rt.addEventListener('change', function () { rtTouched = true; });

  function addresses(text) {
    var out = [];
    text.split(/[,;]/).forEach(function (part) {
      part = part.trim();
      if (!part) { return; }
      var m = part.match(/<([^>]*)>/);
      var addr = (m ? m[1] : part).trim();
      if (addr && out.indexOf(addr) < 0) { out.push(addr); }
    });
    return out;
  }

  function plausible(addr) {
    return /^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\.?$/.test(addr);
  }

  function lookup(addr) {
    var key = addr.toLowerCase();
    if (!cache.has(key)) {
      var p = fetch(API + encodeURIComponent(addr), {
        credentials: 'same-origin', headers: {Accept: 'application/json'}
      }).then(function (r) {
        return r.json().then(function (body) {
          return r.ok ? body : {failed: body.error || ('HTTP ' + r.status)};
        }, function () { return {failed: 'HTTP ' + r.status}; });
      }).catch(function (e) { return {failed: String(e)}; }).then(function (res) {
        results.set(key, res);
        return res;
      });
      cache.set(key, p);
      // Forget after a minute so that changes (DNS, deliveries) show.
      setTimeout(function () { cache.delete(key); }, 60000);
    }
    return cache.get(key);
  }

  function segment(aspect, label) {
    var s = document.createElement('span');
    s.className = 'seg unknown';
    s.dataset.aspect = aspect;
    s.dataset.value = 'unknown';
    s.textContent = label;
    s.title = label + ': unknown';
    s.setAttribute('role', 'img');
    s.setAttribute('aria-label', s.title);
    return s;
  }

  function row(addr) {
    var r = document.createElement('div');
    r.className = 'rcpt';
    r.dataset.address = addr;
    r.dataset.state = 'pending';
    var a = document.createElement('span');
    a.className = 'addr';
    a.textContent = addr;
    var bar = document.createElement('span');
    bar.className = 'bar';
    ASPECTS.forEach(function (x) { bar.appendChild(segment(x[0], x[1])); });
    r.appendChild(a);
    r.appendChild(bar);
    return r;
  }

  function paint(r, res) {
    r.dataset.state = res.failed ? 'failed' : 'done';
    ASPECTS.forEach(function (x) {
      var s = r.querySelector('[data-aspect="' + x[0] + '"]');
      var value, detail;
      if (res.failed) {
        value = 'error';
        detail = 'The security lookup failed: ' + res.failed;
      } else {
        value = res[x[0]] || 'unknown';
        detail = (res.details && res.details[x[0]]) || '';
      }
      s.className = 'seg ' + value;
      s.dataset.value = value;
      s.title = x[1] + ': ' + MEANING[value] + (detail ? '\n' + detail : '');
      s.setAttribute('aria-label', s.title);
    });
  }

  function update(field) {
    var input = document.getElementById(field);
    var box = document.getElementById('security-' + field);
    var wanted = addresses(input.value);
    var existing = {};
    Array.prototype.forEach.call(box.children, function (r) { existing[r.dataset.address] = r; });
    var rows = wanted.map(function (addr) { return existing[addr] || row(addr); });
    box.replaceChildren.apply(box, rows);
    rows.forEach(function (r) {
      var addr = r.dataset.address;
      if (r.dataset.state !== 'pending') { return; }
      if (!plausible(addr)) { return; }
      r.dataset.state = 'loading';
      lookup(addr).then(function (res) {
        if (r.isConnected) { paint(r, res); }
        preselect();
      });
    });
    preselect();
  }

  function preselect() {
    // docs/webmail-security-api.md: pre-select when every recipient has REQUIRETLS yes and MTA-STS or DANE yes.
    var all = [];
    FIELDS.forEach(function (f) { all = all.concat(addresses(document.getElementById(f).value)); });
    var known = all.map(function (a) { return results.get(a.toLowerCase()); });
    var ready = all.length > 0 && known.every(function (r) { return r !== undefined; });
    var safe = ready && known.every(function (r) { return !r.failed && r.requiretls_safe; });
    if (!rtTouched) { rt.checked = safe; }
    rtHint.textContent = !ready ? '' : (safe
      ? 'Every recipient supports REQUIRETLS with MTA-STS or DANE.'
      : 'Not every recipient supports REQUIRETLS with MTA-STS or DANE: the message may bounce.');
    form.dataset.requiretlsSafe = safe ? 'yes' : 'no';
  }

  FIELDS.forEach(function (field) {
    var input = document.getElementById(field);
    var timer = null;
    input.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () { update(field); }, DEBOUNCE_MS);
    });
    input.addEventListener('change', function () { clearTimeout(timer); update(field); });
    update(field);
  });
})();
