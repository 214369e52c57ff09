// The try-it page: dial the hotline through the stand-in, show what is said, send keys.
(function () {
  "use strict";
  const root = document.getElementById("tryit");
  if (!root) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const keys = Array.from(document.querySelectorAll(".key"));
  let sid = null;
  let timer = null;

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
  }

  function render(list, lines) {
    list.replaceChildren(...lines.map((line) => {
      const li = document.createElement("li");
      if (line.kind === "say") {
        li.textContent = line.text;
        li.lang = (line.language || "en").slice(0, 2);
      } else if (line.kind === "gather") {
        li.textContent = "(waiting for your keys)";
        li.className = "muted";
      } else if (line.kind === "digits") {
        li.textContent = "You pressed " + line.text;
        li.className = "pressed";
      } else if (line.kind === "bridged") {
        li.textContent = "(connected to the counselor)";
      } else {
        li.textContent = "(" + line.kind.replace("-", " ") + (line.text ? ": " + line.text : "") + ")";
        li.className = "muted";
      }
      return li;
    }));
  }

  function onCall(live) {
    keys.forEach((k) => { k.disabled = !live; });
    $("hangup").disabled = !live;
    $("dial").disabled = live;
  }

  async function poll() {
    if (!sid) return;
    const response = await fetch(root.dataset.callUrl + sid, { credentials: "same-origin" });
    if (!response.ok) { $("call-status").textContent = "Lost the call."; return; }
    const call = await response.json();
    render($("transcript"), call.transcript);
    call.callbacks.forEach((cb, i) => {
      render($("callbacks"), [{ kind: "say", text: "Callback " + (i + 1) + ": " + cb.status }].concat(cb.transcript));
    });
    const live = !["completed", "canceled", "busy", "no-answer", "failed"].includes(call.status);
    $("call-status").textContent = live
      ? (call.waiting_for_keys ? "On the call: press a key." : "On the call.")
      : "The call has ended.";
    onCall(live);
    const waitingForCallback = !live && !call.callbacks.some((cb) => cb.status === "completed");
    timer = setTimeout(poll, live || waitingForCallback ? 700 : 3000);
  }

  $("dial").addEventListener("click", async () => {
    clearTimeout(timer);
    render($("transcript"), []);
    render($("callbacks"), []);
    const response = await post(root.dataset.startUrl, { from: $("from").value });
    const body = await response.json();
    if (!response.ok) { $("call-status").textContent = body.message; return; }
    sid = body.sid;
    $("call-status").textContent = "Calling the hotline from " + body.caller + "...";
    onCall(true);
    poll();
  });
  keys.forEach((key) => key.addEventListener("click", () => {
    if (sid) post(root.dataset.callUrl + sid + "/digits", { digits: key.dataset.key });
  }));
  $("hangup").addEventListener("click", () => {
    if (sid) post(root.dataset.callUrl + sid + "/hangup");
  });
})();
