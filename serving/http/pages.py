"""What every page for people shares: the quadrants' Chinese names in the matrix's order and the
script that keeps the key, shows the status line and turns the error envelope into an Error."""
from __future__ import annotations

from classifier.labels import DISPLAY_ZH
from classifier.priority import IMPORTANT_NOT_URGENT, NOT_URGENT_NOT_IMPORTANT, URGENT_IMPORTANT, URGENT_NOT_IMPORTANT

# The quadrants in the matrix's order, named as everywhere else (classifier.labels.DISPLAY_ZH).
QUADRANT_ZH = {q: DISPLAY_ZH[q] for q in (URGENT_IMPORTANT, IMPORTANT_NOT_URGENT, URGENT_NOT_IMPORTANT,
                                          NOT_URGENT_NOT_IMPORTANT)}

# What both pages' scripts share: the key (sessionStorage: this tab only, shared by the pages),
# the status line, and API calls that turn the error schema into an Error carrying its code.
PAGE_SCRIPT = """const $ = (sel, root = document) => root.querySelector(sel);
let key = sessionStorage.getItem("triage_key") || "";

function say(text, error = false) {
  const s = $("#status"); s.textContent = text; s.className = error ? "error" : "";
}

function useKey(value) { key = value.trim(); sessionStorage.setItem("triage_key", key); }

async function api(path, options = {}, as = "json") {
  const response = await fetch(path, {...options, headers: {"Authorization": "Bearer " + key,
                                                            "Content-Type": "application/json", ...(options.headers || {})}});
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const err = body.error || {code: "E" + response.status, message: response.statusText};
    if (response.status === 401) sessionStorage.removeItem("triage_key");
    throw Object.assign(new Error(err.code + " " + err.message), {code: err.code, details: err.details});
  }
  if (response.status === 204) return null;
  return as === "text" ? response.text() : response.json();
}
"""
