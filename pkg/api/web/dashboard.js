// srvmon's dashboard: reloads the table in place every data-refresh
// seconds (0: never), and as the filter changes. The page is complete
// without it: the filter form submits and a reload shows the news. No
// framework, nothing inline (the pages' Content-Security-Policy runs
// scripts from this server only): it fetches the page itself and swaps
// in its #dash-body, so there is one renderer, the server's.
(function () {
	"use strict";
	var root = document.getElementById("dashboard");
	var form = document.getElementById("dash-filter");
	var status = document.getElementById("dash-status");
	if (!root || !form || !window.fetch || !window.DOMParser || !window.URLSearchParams) {
		return;
	}
	var period = parseInt(root.getAttribute("data-refresh"), 10) || 0;
	var timer = 0, typing = 0, seq = 0;

	// query is the page's query as the filter form says, at page (kept
	// for a periodic reload, back to 1 when the filter changes).
	function query(keepPage) {
		var q = new URLSearchParams();
		var fd = new FormData(form);
		fd.forEach(function (v, k) {
			if (v !== "" && !(k === "state" && v === "all")) {
				q.set(k, v);
			}
		});
		if (keepPage) {
			var page = new URLSearchParams(location.search).get("page");
			if (page) {
				q.set("page", page);
			}
		}
		var s = q.toString();
		return s ? "?" + s : "";
	}

	function schedule() {
		clearTimeout(timer);
		if (period > 0) {
			timer = setTimeout(function () { load(true); }, period * 1000);
		}
	}

	function load(keepPage) {
		var search = query(keepPage);
		var mine = ++seq;
		if (search !== location.search) {
			history.replaceState(null, "", location.pathname + search);
		}
		fetch(location.pathname + search, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
			.then(function (r) {
				if (!r.ok) {
					throw new Error("HTTP " + r.status);
				}
				return r.text();
			})
			.then(function (text) {
				if (mine !== seq) {
					return; // a newer load is on its way
				}
				var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("dash-body");
				var cur = document.getElementById("dash-body");
				if (!fresh || !cur) {
					throw new Error("no table in the answer");
				}
				// Sections folded by the reader stay folded.
				var folded = {};
				cur.querySelectorAll("details[id]").forEach(function (d) {
					if (!d.open) {
						folded[d.id] = true;
					}
				});
				fresh = document.importNode(fresh, true);
				fresh.querySelectorAll("details[id]").forEach(function (d) {
					if (folded[d.id]) {
						d.open = false;
					}
				});
				cur.replaceWith(fresh);
				status.textContent = "Updated " + new Date().toLocaleTimeString() + (period > 0 ? "; next in " + period + " s." : ".");
			})
			.catch(function (e) {
				if (mine === seq) {
					status.textContent = "Refresh failed (" + e.message + ")" + (period > 0 ? "; trying again in " + period + " s." : ".");
				}
			})
			.then(schedule);
	}

	// The filter narrows as one types, a moment after the last key.
	form.addEventListener("input", function () {
		clearTimeout(typing);
		typing = setTimeout(function () { load(false); }, 250);
	});
	form.addEventListener("submit", function (e) {
		e.preventDefault();
		clearTimeout(typing);
		load(false);
	});
	root.setAttribute("data-script", "on");
	schedule();
})();
