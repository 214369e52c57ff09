// The counselor console: alerts when a callback comes in, and the disposition form.
(function () {
  "use strict";
  // The page's words from the server's catalogue, looked up by live.js (loaded first).
  var t = window.hotlineText;

  // --- Alerts: a tone (Web Audio, no file), the tab title and a desktop notification,
  // each switchable off; the choices are kept in localStorage. No caller's number or
  // situation is put in a notification or the title (both show outside the page).
  var PREFS_KEY = "hotline.console.alerts";
  var prefs = { sound: true, title: true, notify: true };
  try {
    var saved = JSON.parse(window.localStorage.getItem(PREFS_KEY) || "{}");
    Object.keys(prefs).forEach(function (k) { if (typeof saved[k] === "boolean") prefs[k] = saved[k]; });
  } catch (e) { /* private mode or bad JSON: the defaults */ }

  var box = document.getElementById("alert-prefs");
  if (box) {
    box.hidden = false;
    box.querySelectorAll("input[data-pref]").forEach(function (input) {
      input.checked = prefs[input.dataset.pref];
      input.addEventListener("change", function () {
        prefs[input.dataset.pref] = input.checked;
        try { window.localStorage.setItem(PREFS_KEY, JSON.stringify(prefs)); } catch (e) { /* ignore */ }
        if (input.dataset.pref === "notify" && input.checked) askPermission();
        if (input.dataset.pref === "title" && !input.checked) restoreTitle();
      });
    });
  }

  function askPermission() {
    if (!("Notification" in window) || Notification.permission !== "default") return;
    try { Notification.requestPermission(); } catch (e) { /* old callback-only API */ }
  }

  // Browsers let a page make sound and ask for notifications only after a user gesture:
  // the first click or key press anywhere on the console does both, once.
  var audio = null;
  function unlock() {
    document.removeEventListener("click", unlock, true);
    document.removeEventListener("keydown", unlock, true);
    if (prefs.notify) askPermission();
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx && !audio) { try { audio = new Ctx(); } catch (e) { audio = null; } }
  }
  document.addEventListener("click", unlock, true);
  document.addEventListener("keydown", unlock, true);

  function tone() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      if (!audio) audio = new Ctx();
      if (audio.state === "suspended") audio.resume();
      [0, 0.25].forEach(function (offset) {  // two short beeps
        var osc = audio.createOscillator(), gain = audio.createGain(), at = audio.currentTime + offset;
        osc.type = "sine";
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
        osc.connect(gain).connect(audio.destination);
        osc.start(at);
        osc.stop(at + 0.2);
      });
    } catch (e) { /* no sound device: the other alerts still work */ }
  }

  var originalTitle = document.title, flashing = null;
  function flashTitle(text) {
    restoreTitle();
    var on = true;
    document.title = text;
    flashing = setInterval(function () {
      on = !on;
      document.title = on ? text : originalTitle;
    }, 1000);
  }
  function restoreTitle() {
    if (flashing) { clearInterval(flashing); flashing = null; }
    document.title = originalTitle;
  }

  function notify(callbackId) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      var n = new Notification(t("notification_title", "Hotline: callback %(id)s", { id: callbackId }), {
        body: t("notification_body", "Your phone is ringing: answer and press 1 to accept."),
        tag: "hotline-callback",
      });
      n.onclick = function () { window.focus(); n.close(); };
    } catch (e) { /* some platforms allow notifications only from a service worker */ }
  }

  var alerted = {};
  function checkCall() {
    var live = document.getElementById("live-call");
    var ringing = live && live.dataset.phase === "ringing";
    if (!ringing) { restoreTitle(); return; }
    var key = live.dataset.reservation || live.dataset.lead;
    if (alerted[key]) return;
    alerted[key] = true;
    if (prefs.sound) tone();
    if (prefs.title) flashTitle(t("title_ringing", "(1) Callback ringing · %(title)s", { title: originalTitle }));
    if (prefs.notify) notify(live.dataset.lead);
  }
  var callBox = document.getElementById("call-box");
  if (callBox) {
    callBox.addEventListener("live:updated", checkCall);
    checkCall();
  }

  // --- The disposition form: send the call-back time as epoch seconds of the browser's
  // own time zone (the datetime-local field has none).
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
