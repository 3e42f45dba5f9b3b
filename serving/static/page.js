// What every page for people shares (loaded before the page's own script): the key (sessionStorage:
// this tab only, shared by the pages), the status line, and API calls that turn the error schema
// into an Error carrying its code.
const $ = (sel, root = document) => root.querySelector(sel);
let key = sessionStorage.getItem("triage_key") || "";

function say(text, error = false) {
  const s = $("#status"); s.textContent = text; s.className = error ? "error" : "";
}

// A failure as a supervisor reads it: the error registry's Chinese message (the page's data block,
// `errors_zh`) and the code beside it; a code without one, or no answer at all (the network), in
// Chinese too (the API's own messages are English).
function describeError(e, messages) {
  const text = messages[e.code];
  return text ? `${text}（${e.code}）` : e.code ? `操作未成功（${e.code}）` : "网络连接失败，请检查网络后重试";
}

function useKey(value) { key = value.trim(); sessionStorage.setItem("triage_key", key); }

async function api(path, options = {}, as = "json") {
  const response = await fetch(path, {...options, headers: {"Authorization": "Bearer " + key,
                                                            "Content-Type": "application/json", ...(options.headers || {})}});
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    // Without the error schema (a proxy's own page) the HTTP status, never a code of ours ("E502").
    const err = body.error || {code: "HTTP " + response.status, message: response.statusText};
    if (response.status === 401) sessionStorage.removeItem("triage_key");
    throw Object.assign(new Error(err.code + " " + err.message), {code: err.code, details: err.details});
  }
  if (response.status === 204) return null;
  return as === "text" ? response.text() : response.json();
}
