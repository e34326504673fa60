/* postel webmail: live updates of an open mailbox page over server-sent events
   (/webmail/events, postel.web.webmail.events). New mail is inserted at the top
   of the newest page, flags and removals show at once, and the unread counts
   of the mailbox list follow. No dependencies; text is set with textContent. */
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

  function rowOf(uid) {
    return tbody.querySelector('tr[data-uid="' + uid + '"]');
  }

  function cell(cls, text) {
    var td = document.createElement('td');
    if (cls) { td.className = cls; }
    if (text !== undefined) { td.textContent = text; }
    return td;
  }

  function newRow(m) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-msgid', String(m.msgid));
    tr.setAttribute('data-uid', String(m.uid));
    tr.className = m.seen ? 'seen' : 'unseen';
    tr.appendChild(cell('party', m.party));
    var subject = cell('subject');
    var a = document.createElement('a');
    a.href = m.href;
    a.textContent = m.subject;
    subject.appendChild(a);
    if (m.attachments) {
      var clip = document.createElement('span');
      clip.title = 'attachments';
      clip.textContent = '\u{1F4CE}';
      subject.appendChild(document.createTextNode(' '));
      subject.appendChild(clip);
    }
    if (m.requiretls) {
      var badge = document.createElement('span');
      badge.className = 'badge';
      badge.title = 'received with REQUIRETLS';
      badge.textContent = 'REQUIRETLS';
      subject.appendChild(document.createTextNode(' '));
      subject.appendChild(badge);
    }
    tr.appendChild(subject);
    tr.appendChild(cell('date', m.date));
    tr.appendChild(cell('num', String(m.size)));
    return tr;
  }

  function insert(tr, uid) {
    // Newest first: before the first row with a smaller UID.
    var rows = tbody.querySelectorAll('tr[data-uid]');
    for (var i = 0; i < rows.length; i++) {
      if (Number(rows[i].getAttribute('data-uid')) < uid) {
        tbody.insertBefore(tr, rows[i]);
        return;
      }
    }
    if (rows.length === 0 || newest) { tbody.appendChild(tr); }
  }

  function applyMessages(d) {
    d.changed.forEach(function (m) {
      var tr = rowOf(m.uid);
      if (tr) {
        tr.className = m.seen ? 'seen' : 'unseen';
      } else if (newest) {
        var empty = tbody.querySelector('tr.empty');
        if (empty) { empty.remove(); }
        insert(newRow(m), m.uid);
      }
    });
    d.vanished.forEach(function (uid) {
      var tr = rowOf(uid);
      if (tr) { tr.remove(); }
    });
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
