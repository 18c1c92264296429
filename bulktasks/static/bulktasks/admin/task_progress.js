// The task page's report follows a pending or running task on its own: every
// two seconds it asks the task's progress.json and updates the status, the
// progress bar and the counts in place. Once the task is finished it stops and
// says so, with a link to reload for the lines and files; it does not reload
// by itself, so that nobody reading or scrolling the page has it pulled away.
"use strict";
(function () {
  const INTERVAL_MS = 2000;
  // After a failed request, wait longer each time (a server restarting, a
  // flaky network), up to a minute; a 403 or 404 ends the polling.
  const MAX_INTERVAL_MS = 60000;

  // Numbers as the rest of the admin writes them: 200,000.
  function grouped(value) {
    return value === null || value === undefined ? "?" : Number(value).toLocaleString("en-US");
  }

  function setText(id, value) {
    const element = document.getElementById(id);
    const text = grouped(value);
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  }

  function show(report, progress) {
    const badge = document.getElementById("task-status");
    if (badge) {
      badge.textContent = progress.status_display;
      badge.className = "task-status task-status-" + progress.status;
    }
    const bar = document.getElementById("task-progress-bar");
    if (bar) {
      if (progress.total === null && progress.is_finished) {
        // A finished export: its rows are all written, however many.
        bar.max = 1;
        bar.value = 1;
        bar.removeAttribute("data-indeterminate");
      } else if (progress.total === null) {
        bar.removeAttribute("value");
      } else {
        bar.max = Math.max(progress.total, 1);
        bar.value = progress.processed;
        bar.removeAttribute("data-indeterminate");
      }
      bar.textContent = String(progress.processed);
    }
    setText("task-processed", progress.processed);
    setText("task-total", progress.total);
    for (const [name, value] of Object.entries(progress.counts)) {
      setText("count-" + name, value);
      // The totals the line tables quote; their rows come with a reload.
      for (const element of document.querySelectorAll('[data-count="' + name + '"]')) {
        element.textContent = grouped(value);
      }
    }
    const error = document.getElementById("task-error");
    if (error) {
      error.textContent = progress.error || "";
      error.hidden = !progress.error;
    }
    if (progress.is_finished) {
      report.dataset.finished = "true";
      const notice = document.getElementById("task-finished-notice");
      if (notice) {
        notice.hidden = false;
      }
      // A finished task cannot be cancelled any more.
      const cancel = document.getElementById("cancel-task");
      if (cancel && cancel.parentElement) {
        cancel.parentElement.remove();
      }
    }
  }

  function follow(report) {
    const url = report.dataset.progressUrl;
    let delay = INTERVAL_MS;

    function poll() {
      // A tab in the background asks nothing; it catches up once shown again.
      if (document.hidden) {
        window.setTimeout(poll, INTERVAL_MS);
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          // No permission, no such task, or a session that ended (the admin
          // redirects to its login page): nothing more to follow.
          if (response.status === 403 || response.status === 404 || response.redirected) {
            return null;
          }
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json().then(function (progress) {
            show(report, progress);
            delay = INTERVAL_MS;
            return progress.is_finished ? null : progress;
          });
        })
        .then(function (running) {
          if (running) {
            window.setTimeout(poll, delay);
          }
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_INTERVAL_MS);
          window.setTimeout(poll, delay);
        });
    }

    window.setTimeout(poll, delay);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const report = document.getElementById("task-report");
    if (report && report.dataset.progressUrl && report.dataset.finished !== "true") {
      follow(report);
    }
  });
})();
