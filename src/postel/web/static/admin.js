// postel admin: copy buttons and confirmation of destructive forms. Nothing else.
"use strict";
document.addEventListener("click", function (ev) {
  const btn = ev.target.closest("button[data-copy]");
  if (!btn) return;
  const src = document.getElementById(btn.dataset.copy);
  if (src && navigator.clipboard) {
    navigator.clipboard.writeText(src.textContent).then(function () {
      btn.textContent = "Copied";
    });
  }
});
document.addEventListener("submit", function (ev) {
  const msg = ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
