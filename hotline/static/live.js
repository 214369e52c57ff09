// Live updates without a reload: poll an HTML fragment, swap it in only when it changed
// (keeping keyboard focus), and tick the displayed durations between polls.
(function () {
  "use strict";
  // The page's words, from the server's catalogue in the page's language (body data-i18n,
  // hotline/i18n.py's js_messages): "%(name)s" is filled in here.
  var words = {};
  try { words = JSON.parse(document.body.dataset.i18n || "{}"); } catch (e) { words = {}; }
  function t(key, fallback, values) {
    var text = words[key] || fallback;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("%(" + name + ")s").join(values[name]);
    });
    return text;
  }
  // console.js (loaded after this script on the console) says its words through it too.
  window.hotlineText = t;
  function fmt(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }
  // The time of the last update in the call center's zone (REPORT_TIME_ZONE, like every
  // other time on these pages), with the zone's name, whatever the browser's own zone.
  function clockTime(zone) {
    var options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short" };
    if (zone) options.timeZone = zone;
    try { return new Date().toLocaleTimeString(document.documentElement.lang || "en", options); }
    catch (e) { return new Date().toLocaleTimeString(); }  // a zone this browser does not know
  }
  function tick(root, since) {
    var elapsed = (Date.now() - since) / 1000;
    root.querySelectorAll("[data-seconds][data-tick='1']").forEach(function (el) {
      el.textContent = fmt(Number(el.dataset.seconds) + elapsed);
    });
  }
  function live(box, status) {
    var clock = document.getElementById("live-time");
    var url = box.dataset.liveUrl, every = Number(box.dataset.pollMs || 1000);
    var first = box.querySelector("[data-version]");
    var last = first ? first.dataset.version : null, loadedAt = Date.now(), failures = 0;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (res) {
          if (res.status === 401 || res.redirected) { window.location.reload(); return null; }
          if (!res.ok) throw new Error("HTTP " + res.status);
          return res.text();
        })
        .then(function (html) {
          if (html === null) return;
          failures = 0;
          // Only a change of connection state is announced (role=status), never the clock.
          var liveWord = t("live", "Live");
          if (status && status.textContent !== liveWord) { status.textContent = liveWord; }
          if (status) status.parentNode.classList.remove("stale");
          if (clock) clock.textContent = t("updated", "updated %(time)s", { time: clockTime(clock.dataset.timeZone) });
          // The fragment carries a version of what it shows (not of the ticking times or
          // the per-request CSRF token), so an unchanged floor is left alone.
          var m = html.match(/data-version="([^"]*)"/), version = m ? m[1] : html;
          if (version !== last) {
            var focusedId = document.activeElement && document.activeElement.id;
            box.innerHTML = html;
            last = version;
            loadedAt = Date.now();
            if (focusedId) { var f = document.getElementById(focusedId); if (f) f.focus(); }
            box.dispatchEvent(new CustomEvent("live:updated"));
          }
        })
        .catch(function () {
          failures += 1;
          if (status && failures > 2) {
            status.textContent = t("connection_lost", "Connection lost: retrying…");
            status.parentNode.classList.add("stale");
          }
        })
        .finally(function () { setTimeout(poll, every); });
    }
    setInterval(function () { tick(box, loadedAt); }, 1000);
    poll();
  }
  document.querySelectorAll("[data-live-url]").forEach(function (box) {
    live(box, document.getElementById(box.dataset.statusId || "live-status"));
  });
})();
