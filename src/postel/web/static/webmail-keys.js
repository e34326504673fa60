/* postel webmail: keyboard shortcuts (the help overlay, "?", lists them).
   None fires while typing in a field; every shortcut does what a link or a
   button of the page does, so the page works without them too. */
(function () {
  'use strict';
  var help = document.getElementById('keys-help');
  if (!help) { return; }  // not logged in
  var current = null;  // the row j/k went to

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll('table.messages tbody tr[data-msgid]'));
  }
  function rowOf(el) { return el && el.closest ? el.closest('table.messages tbody tr[data-msgid]') : null; }
  function go(row) {
    if (current) { current.classList.remove('current-row'); }
    current = row;
    row.classList.add('current-row');
    var link = row.querySelector('a.open') || row.querySelector('a');
    if (link) { link.focus(); }
    row.scrollIntoView({block: 'nearest'});
  }
  function step(by) {
    var list = rows();
    if (!list.length) { return; }
    var at = list.indexOf(rowOf(document.activeElement) || current);
    go(list[at < 0 ? (by > 0 ? 0 : list.length - 1) : Math.max(0, Math.min(list.length - 1, at + by))]);
  }
  function here() { return rowOf(document.activeElement) || current; }
  function click(id) {
    var el = document.getElementById(id);
    if (el) { el.click(); return true; }
    return false;
  }
  function compose(kind) {
    // The message page has its own links; in a list, the current conversation's newest message.
    if (click({reply: 'reply', replyall: 'replyall', forward: 'forward'}[kind])) { return; }
    var row = here();
    if (row) { location.href = '/webmail/compose?' + kind + '=' + row.dataset.msgid; }
  }
  function pickCurrent() {
    var row = here();
    var pick = row && row.querySelector('input.pick');
    if (!pick) { return false; }
    var any = document.querySelectorAll('input.pick:checked').length > 0;
    if (!any) { pick.checked = true; }
    return true;
  }

  help.addEventListener('close', function () {
    var back = current && (current.querySelector('a.open') || current.querySelector('a'));
    if (back) { back.focus(); }
  });
  var button = document.getElementById('keys-button');
  if (button) { button.addEventListener('click', function () { help.showModal(); }); }

  document.addEventListener('keydown', function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || help.open) { return; }
    if (typing(e.target)) { return; }
    var key = e.key;
    var done = true;
    switch (key) {
      case 'j': step(1); break;
      case 'k': step(-1); break;
      case 'o': case 'Enter': {
        var row = here();
        var onControl = /^(A|BUTTON|SUMMARY)$/.test(e.target.tagName) && !rowOf(e.target);
        if (key === 'Enter' && (onControl || !row)) { done = false; break; }
        var link = row && (row.querySelector('a.open') || row.querySelector('a'));
        if (link) { link.click(); } else { done = false; }
        break;
      }
      case 'r': compose('reply'); break;
      case 'a': compose('replyall'); break;
      case 'f': compose('forward'); break;
      case 'c': location.href = '/webmail/compose'; break;
      case 'x': {
        var r = here();
        var p = r && r.querySelector('input.pick');
        if (p) { p.checked = !p.checked; } else { done = false; }
        break;
      }
      case 'Delete': case '#':
        if (document.querySelector('input.pick')) {
          if (pickCurrent()) { click('bulk-delete'); } else { done = false; }
        } else { done = click('bulk-delete'); }
        break;
      case 'm': {
        var target = document.getElementById('move-target');
        if (target) {
          if (document.querySelector('input.pick')) { pickCurrent(); }
          target.focus();
        } else { done = false; }
        break;
      }
      case '/': {
        var q = document.querySelector('header form.search input[name=q]');
        if (q) { q.focus(); q.select(); } else { done = false; }
        break;
      }
      case '?': help.showModal(); break;
      default: done = false;
    }
    if (done) { e.preventDefault(); }
  });
})();
