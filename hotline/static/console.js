// The disposition form: send the call-back time as epoch seconds of the browser's own
// time zone (the datetime-local field has none).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "disposition-form") return;
    var local = form.querySelector("#callback_at");
    var epoch = form.querySelector("input[name=callback_epoch]");
    if (local && local.value && epoch) {
      var ms = new Date(local.value).getTime();
      if (!isNaN(ms)) epoch.value = String(ms / 1000);
    }
  });
})();
