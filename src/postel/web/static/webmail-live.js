/* postel webmail: live updates of an open mailbox page over server-sent events
   (/webmail/events, postel.web.webmail.events). The conversations an event
   names are fetched as rows rendered by the server (/webmail/rows): a new
   conversation is inserted at the top of the newest page, a reply updates its
   conversation's row (count, unread, newest message) and moves it up, flags
   and removals show at once, the unread counts of the mailbox list follow.
   Selected checkboxes and keyboard focus survive. No dependencies. */
(function () {
  'use strict';
  var table = document.querySelector('table.messages[data-live]');
  if (!table || !window.EventSource) { return; }
  var tbody = table.tBodies[0];
  var url = table.getAttribute('data-live');
  var newest = table.getAttribute('data-newest') === '1';
  var current = table.getAttribute('data-mailbox');
  var since = null;        // modseq reached; the URL's own at first
  var source = null;
  var RECONNECT_MS = 5000;  // doubled after each failure, up to MAX_RECONNECT_MS
  var MAX_RECONNECT_MS = 300000;
  var delay = RECONNECT_MS;

  var rowsUrl = table.getAttribute('data-rows');
  var MAX_KEYS = 100;       // thread keys of one /rows request (rows.py)
  var pending = {};         // thread keys whose rows are to be fetched
  var fetching = false;

  // Rows are rendered by the server (/webmail/rows, the list page's own
  // template macro); this script only puts them in place.
  function rowOf(key) {
    return tbody.querySelector('tr[data-thread="' + key + '"]');
  }

  function shownKeys() {
    return Array.prototype.map.call(tbody.querySelectorAll('tr[data-thread]'), function (tr) {
      return tr.getAttribute('data-thread');
    });
  }

  function parseRow(html) {
    var t = document.createElement('template');
    t.innerHTML = html;
    return t.content.querySelector('tr');
  }

  // Newest first: before the first other row whose newest message is older.
  function place(tr) {
    var uid = Number(tr.getAttribute('data-uid'));
    var rows = tbody.querySelectorAll('tr[data-uid]');
    var before = null;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i] !== tr && Number(rows[i].getAttribute('data-uid')) < uid) {
        before = rows[i];
        break;
      }
    }
    if (tr.parentNode === tbody && tr.nextElementSibling === before) { return; }
    tbody.insertBefore(tr, before);
  }

  // The row element stays (the keyboard's current row, drag listeners); its
  // attributes and cells become the fresh ones, its checkbox keeps its state.
  function update(tr, fresh) {
    var pick = tr.querySelector('input.pick');
    var checked = pick ? pick.checked : false;
    var keep = ['current-row', 'dragging'].filter(function (c) { return tr.classList.contains(c); });
    ['class', 'data-msgid', 'data-count', 'data-uid'].forEach(function (a) {
      tr.setAttribute(a, fresh.getAttribute(a));
    });
    keep.forEach(function (c) { tr.classList.add(c); });
    while (tr.firstChild) { tr.removeChild(tr.firstChild); }
    while (fresh.firstChild) { tr.appendChild(fresh.firstChild); }
    pick = tr.querySelector('input.pick');
    if (pick) { pick.checked = checked; }
  }

  function applyRows(d) {
    // Focus inside a row that is rebuilt or moved is put back where it was.
    var active = document.activeElement;
    var focusRow = active && active.closest ? active.closest('tr[data-thread]') : null;
    var focusSel = focusRow ? (active.matches('input.pick') ? 'input.pick' : 'a.open') : null;
    d.rows.forEach(function (r) {
      var fresh = parseRow(r.html);
      if (!fresh) { return; }
      var tr = rowOf(r.thread);
      if (tr) {
        update(tr, fresh);
        if (newest) { place(tr); }
      } else if (newest) {
        var empty = tbody.querySelector('tr.empty');
        if (empty) { empty.remove(); }
        place(fresh);
      }
    });
    d.gone.forEach(function (key) {
      var tr = rowOf(key);
      if (tr) { tr.remove(); }
    });
    if (!tbody.querySelector('tr[data-thread]') && !tbody.querySelector('tr.empty')) {
      var none = document.createElement('tr');
      none.className = 'empty';
      var td = document.createElement('td');
      td.colSpan = 4;
      td.className = 'muted';
      td.textContent = 'No messages.';
      none.appendChild(td);
      tbody.appendChild(none);
    }
    if (focusRow && focusRow.parentNode === tbody && document.activeElement !== active) {
      var back = focusRow.querySelector(focusSel);
      if (back) { back.focus({preventScroll: true}); }
    }
  }

  // One request at a time, so that an older answer never overwrites a newer
  // one; keys named meanwhile wait for the next. A failed request leaves its
  // keys for the next event.
  function pump() {
    if (fetching || !rowsUrl) { return; }
    var keys = Object.keys(pending).slice(0, MAX_KEYS);
    if (!keys.length) { return; }
    keys.forEach(function (k) { delete pending[k]; });
    fetching = true;
    var query = keys.map(function (k) { return 'thread=' + encodeURIComponent(k); }).join('&');
    fetch(rowsUrl + '&' + query, {credentials: 'same-origin', headers: {accept: 'application/json'}})
      .then(function (r) {
        if (!r.ok) { throw new Error('rows: HTTP ' + r.status); }
        return r.json();
      })
      .then(function (d) {
        fetching = false;
        applyRows(d);
        pump();
      })
      .catch(function () {
        fetching = false;
        keys.forEach(function (k) { pending[k] = true; });
      });
  }

  function applyMessages(d) {
    var shown = {};
    shownKeys().forEach(function (k) { shown[k] = true; });
    d.changed.forEach(function (m) {
      // An older page only follows the conversations it shows.
      if (m.thread && (newest || shown[m.thread])) { pending[m.thread] = true; }
    });
    if (d.vanished.length) {
      // Which conversation a removed message was in is gone with it: the rows shown are asked for.
      Object.keys(shown).forEach(function (k) { pending[k] = true; });
    }
    pump();
  }

  function applyCounts(d) {
    d.boxes.forEach(function (b) {
      var li = null;
      document.querySelectorAll('nav.boxes li[data-mailbox]').forEach(function (el) {
        if (el.getAttribute('data-mailbox') === b.name) { li = el; }
      });
      if (li) {
        var count = li.querySelector('.count');
        if (b.unseen > 0) {
          if (!count) {
            count = document.createElement('span');
            count.className = 'count';
            li.appendChild(document.createTextNode(' '));
            li.appendChild(count);
          }
          count.textContent = String(b.unseen);
          count.title = b.unseen + ' unread';
        } else if (count) {
          count.remove();
        }
      }
      if (b.name === current) {
        var h = document.getElementById('mailbox-counts');
        if (h) {
          h.textContent = b.total + ' message' + (b.total === 1 ? '' : 's') +
            (b.unseen ? ', ' + b.unseen + ' unread' : '');
        }
      }
    });
  }

  function open() {
    var target = url;
    if (since !== null) { target = url.replace(/([?&]since=)\d*/, '$1' + since); }
    source = new EventSource(target);
    source.addEventListener('changes', function (ev) {
      var d = JSON.parse(ev.data);
      since = d.modseq;
      delay = RECONNECT_MS;
      applyMessages(d);
      applyCounts(d);
    });
    source.addEventListener('end', function () { source.close(); });
    source.onerror = function () {
      // Reconnect from the modseq reached, not from the page's own; less often
      // while it keeps failing (server stopped, session ended elsewhere).
      source.close();
      window.setTimeout(open, delay);
      delay = Math.min(delay * 2, MAX_RECONNECT_MS);
    };
  }

  open();
}());
