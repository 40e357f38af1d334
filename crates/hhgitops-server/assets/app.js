// hhgitops web UI: the two live parts that need a script. Everything else is plain HTML (and htmx).
// 1. A job page follows the job's Server-Sent Events: each stage as it starts and ends, the engine's stages
//    with their counts and current object (throttled by the server to about ten updates a second), then, on the final
//    `result` event, the server-rendered report replaces the live part. A refresh renders the same state.
// 2. The upload form takes a file dropped onto it and submits it (the file picker works without this script).
(function () {
  "use strict";

  function followJob(live) {
    var url = live.getAttribute("data-events");
    var fragment = live.getAttribute("data-fragment");
    var status = live.querySelector("[data-live-status]");
    var stages = live.querySelector("ol.stages");
    var steps = live.querySelector("ol.steps");
    if (!url || typeof EventSource === "undefined") return;
    var es = new EventSource(url);
    var say = function (text) { if (status) status.textContent = text; };
    es.addEventListener("open", function () { say("following live"); });
    es.addEventListener("error", function () { say("connection lost; reconnecting…"); });
    es.addEventListener("progress", function (ev) {
      var d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      if (d.key && d.operation) { showStep(d); return; }
      if (!d.stage || !stages) return;
      var li = stages.querySelector('li[data-stage="' + d.stage.replace(/[^a-z0-9_-]/gi, "") + '"]');
      if (!li) {
        li = document.createElement("li");
        li.setAttribute("data-stage", d.stage);
        stages.appendChild(li);
      }
      var text = d.stage + ": " + d.state;
      if (typeof d.seconds === "number") text += " (" + d.seconds.toFixed(2) + " s)";
      li.textContent = text;
      li.setAttribute("data-state", d.state);
      say("following live: " + d.stage + " " + d.state);
    });
    // An engine stage: its count out of its total, a progress bar when the total is known, the current object.
    function showStep(d) {
      if (!steps) return;
      steps.hidden = false;
      var key = String(d.key).replace(/[^a-z0-9_.-]/gi, "");
      var li = steps.querySelector('li[data-step="' + key + '"]');
      if (!li) {
        li = document.createElement("li");
        li.setAttribute("data-step", key);
        ["label", "bar", "count", "current"].forEach(function (part) {
          var el = document.createElement(part === "bar" ? "progress" : "span");
          el.setAttribute("data-" + part, "");
          if (part === "current") el.className = "muted";
          li.appendChild(el);
          li.appendChild(document.createTextNode(" "));
        });
        steps.appendChild(li);
      }
      var label = d.operation + " " + d.stage;
      li.querySelector("[data-label]").textContent = label;
      var bar = li.querySelector("progress");
      var n = function (x) { return Number(x).toLocaleString("en-US"); };
      if (typeof d.total === "number") {
        bar.hidden = false;
        bar.max = d.total;
        bar.value = d.done;
        bar.setAttribute("aria-label", label);
        li.querySelector("[data-count]").textContent = n(d.done) + " of " + n(d.total);
      } else {
        bar.hidden = true;
        li.querySelector("[data-count]").textContent = n(d.done);
      }
      li.querySelector("[data-current]").textContent = d.current || "";
      li.setAttribute("data-state", d.state || "");
      say("following live: " + label + " " + n(d.done) + (typeof d.total === "number" ? " of " + n(d.total) : ""));
    }
    es.addEventListener("result", function () {
      es.close();
      say("finished; loading the report…");
      fetch(fragment, { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.firstElementChild;
          if (fresh) live.replaceWith(fresh);
          var h = document.getElementById("job-state");
          if (h && fresh && fresh.getAttribute("data-state")) h.textContent = fresh.getAttribute("data-state");
        })
        .catch(function () { say("finished; reload the page to see the report"); });
    });
  }

  function dropZone(zone) {
    var input = zone.querySelector('input[type="file"]');
    var form = zone.closest("form");
    if (!input || !form) return;
    ["dragenter", "dragover"].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      zone.addEventListener(t, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      input.files = e.dataTransfer.files;
      form.requestSubmit();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-events]").forEach(followJob);
    document.querySelectorAll(".drop").forEach(dropZone);
  });
})();
