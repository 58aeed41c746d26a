/* The dashboard's one script, inlined under the page's CSP nonce on the pages that need it (no inline
   handlers: listeners are attached here).
   - Copy buttons: <button data-copy-target="id">; copies the element's value (inputs) or text.
   - Live waits: <div class="live" data-wait-url data-kind="scan"|"push">. Long-polls the wait URL, one
     request at a time, re-issued from its own answer and backing off after errors. scan: "scanned" submits
     the claim form, "expired" reloads (data-on-expired="reload") or offers data-restart-url. push: "approved"
     submits the claim form; "denied"/"expired" say "Not approved" with a link to data-retry-url. */
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return fallbackCopy(text); });
    }
    return Promise.resolve(fallbackCopy(text));
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "sr-only";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-copy-target]"), function (button) {
    var label = button.textContent;
    var timer = null;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) return;
      var text = "value" in target && target.tagName !== "PRE" ? target.value : target.textContent;
      copyText(text).then(function (ok) {
        if (!ok && target.select) target.select();  // at least leave it selected for Ctrl+C
        button.textContent = ok ? "Copied" : "Press Ctrl+C";
        clearTimeout(timer);
        timer = setTimeout(function () { button.textContent = label; }, 2500);
      });
    });
  });

  var live = document.querySelector(".live[data-wait-url]");
  if (!live) return;
  var waitUrl = live.getAttribute("data-wait-url");
  var kind = live.getAttribute("data-kind") || "scan";
  var statusLine = live.querySelector(".live-status");
  var countdown = live.querySelector(".countdown");
  var claim = document.getElementById("claim-form");
  var seen = kind === "push" ? "pending" : "waiting";
  var left = parseInt(live.getAttribute("data-expires-in"), 10) || 0;
  var done = false;
  var failures = 0;

  // The claim form's button is for browsers without JavaScript; here the script submits it.
  Array.prototype.forEach.call(live.querySelectorAll("[data-claim-button]"), function (b) { b.hidden = true; });

  function say(text, bad) {
    if (statusLine.textContent !== text) statusLine.textContent = text;
    statusLine.classList.toggle("bad", !!bad);
  }

  function sayWithLink(text, href, linkText) {
    statusLine.textContent = text + " ";
    var a = document.createElement("a");
    a.href = href;
    a.textContent = linkText;
    a.setAttribute("data-testid", "retry-link");
    statusLine.appendChild(a);
    statusLine.classList.add("bad");
  }

  function tick() {
    if (done || !countdown) return;
    if (left <= 0) { countdown.textContent = ""; return; }
    var m = Math.floor(left / 60), s = left % 60;
    countdown.textContent = (kind === "push" ? "Expires in " : "Code expires in ") + m + ":" + (s < 10 ? "0" : "") + s;
    left -= 1;
    setTimeout(tick, 1000);
  }

  function finish(text) {
    done = true;
    if (countdown) countdown.textContent = "";
    say(text);
    claim.submit();
  }

  function expired() {
    done = true;
    if (countdown) countdown.textContent = "";
    if (kind === "push") {
      sayWithLink("Not approved.", live.getAttribute("data-retry-url") || ".", "Try again");
    } else if (live.getAttribute("data-on-expired") === "reload") {
      say("The code expired. Getting a new one\u2026");
      window.location.reload();
    } else {
      sayWithLink("The code expired.", live.getAttribute("data-restart-url") || window.location.href, "Start again");
    }
  }

  function answer(state) {
    if (kind === "push") {
      if (state === "approved") return finish("Approved. Signing you in\u2026");
      if (state === "denied" || state === "expired") return expired();
    } else {
      if (state === "scanned") return finish("Scanned. Signing you in\u2026");
      if (state === "expired") return expired();
    }
    // A long-poll answers when the state changes or after a while; one that came back at once with
    // nothing new waits a second, so a misbehaving server never turns this into a busy loop.
    var quick = Date.now() - started < 1000 && state === seen;
    seen = state || seen;
    if (quick) setTimeout(poll, 1000); else poll();
  }

  var started = 0;
  function poll() {
    if (done) return;
    started = Date.now();
    var url = waitUrl + (waitUrl.indexOf("?") < 0 ? "?" : "&") + "seen=" + encodeURIComponent(seen);
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401 || r.status === 403 || r.status === 404 || r.status === 410) {
          done = true;
          if (countdown) countdown.textContent = "";
          sayWithLink("This page can no longer finish the sign-in.", live.getAttribute("data-retry-url") ||
                      live.getAttribute("data-restart-url") || window.location.href, "Start again");
          return null;
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (body) {
        if (!body || done) return;
        if (failures > 0) say(live.getAttribute("data-waiting-text") || "Waiting\u2026");
        failures = 0;
        answer(body.state);
      })
      .catch(function () {
        if (done) return;
        failures += 1;
        say("Connection lost. Retrying\u2026");
        setTimeout(poll, Math.min(30000, 1000 * Math.pow(2, Math.min(failures, 5))));
      });
  }

  tick();
  poll();
})();
