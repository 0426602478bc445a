// The live event debugger: polls /live/events and prepends new rows. Every value is inserted
// with textContent, never as HTML, so event names and ids cannot inject markup.
(function () {
  "use strict";
  var table = document.getElementById("live-events");
  var body = table.querySelector("tbody");
  var status = document.getElementById("live-status");
  var details = document.getElementById("live-details");
  var after = null;
  var maxRows = 500;
  var interval = 1000;

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
  }

  function readable(timestamp) {
    return typeof timestamp === "string" ? timestamp.replace("T", " ").replace(/\.\d+Z$/, "") : "";
  }

  function show(event) {
    var row = document.createElement("tr");
    row.className = "live-event";
    row.dataset.seq = String(event.seq);
    cell(row, event.seq);
    cell(row, readable(event.timestamp));
    cell(row, event.source);
    cell(row, event.title);
    cell(row, event.userId);
    cell(row, event.anonymousId);
    row.tabIndex = 0;
    row.addEventListener("click", function () {
      details.hidden = false;
      details.textContent = JSON.stringify(event.message, null, 2);
    });
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > maxRows) {
      body.deleteRow(body.rows.length - 1);
    }
  }

  function poll() {
    var url = "/live/events" + (after === null ? "" : "?after=" + after);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        data.events.forEach(show);
        after = data.lastSeq;
        status.textContent = "Live: showing events up to #" + after + ".";
        setTimeout(poll, data.events.length ? 50 : interval);
      })
      .catch(function (error) {
        status.textContent = "Waiting for the server (" + error.message + ")…";
        setTimeout(poll, interval * 3);
      });
  }

  poll();
})();
