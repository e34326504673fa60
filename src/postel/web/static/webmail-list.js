/* postel webmail: the conversation list's selection and moves.
   Every action is the list's own POST form (it works without this script):
   "All" selects the page, a row dragged onto a mailbox is moved there (with the
   other selected rows when it is selected), Enter on the "Move to" choice moves. */
(function () {
  'use strict';
  var form = document.getElementById('bulk');
  var target = document.getElementById('move-target');
  var move = document.getElementById('bulk-move');
  if (target && move) {
    // A select has no implicit submission: Enter moves (keyboard use, item 5).
    target.addEventListener('keydown', function (e) {
      if (e.key === 'Enter') { e.preventDefault(); move.click(); }
    });
  }
  if (!form) { return; }
  var picks = function () { return Array.prototype.slice.call(form.querySelectorAll('input.pick')); };
  var all = document.getElementById('select-all');
  if (all) {
    all.addEventListener('change', function () {
      picks().forEach(function (p) { p.checked = all.checked; });
    });
  }

  // Listened for on the form, so that rows added by live updates (webmail-live.js) drag too.
  var dragged = null;
  form.addEventListener('dragstart', function (e) {
    var row = e.target.closest ? e.target.closest('tr[data-msgid]') : null;
    if (!row || !form.contains(row)) { return; }
    dragged = row;
    row.classList.add('dragging');
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', row.dataset.msgid);
  });
  form.addEventListener('dragend', function () {
    if (dragged) { dragged.classList.remove('dragging'); }
    dragged = null;
  });

  document.querySelectorAll('nav.boxes li[data-mailbox]').forEach(function (li) {
    var name = li.dataset.mailbox;
    var option = Array.prototype.find.call(target.options, function (o) { return o.value === name; });
    if (!option) { return; }  // the mailbox shown: nothing to move
    li.addEventListener('dragover', function (e) {
      if (!dragged) { return; }
      e.preventDefault();
      e.dataTransfer.dropEffect = 'move';
      li.classList.add('drop');
    });
    li.addEventListener('dragleave', function () { li.classList.remove('drop'); });
    li.addEventListener('drop', function (e) {
      e.preventDefault();
      li.classList.remove('drop');
      if (!dragged) { return; }
      var pick = dragged.querySelector('input.pick');
      if (!pick.checked) {
        picks().forEach(function (p) { p.checked = false; });
        pick.checked = true;
      }
      target.value = name;
      move.click();
    });
  });
})();
