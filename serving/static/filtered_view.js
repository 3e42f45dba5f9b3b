// A page for a server-rendered view (/matrix, /insights; serving/templates/filtered_view.html): it asks for
// the key and the filters, fetches the view's HTML with the key in the header (a browser cannot add one to
// a plain link) and shows it in a sandboxed frame without scripts. The view's path, the frame's id and the
// error messages in Chinese are in the page's data block.
const VIEW = JSON.parse(document.getElementById("page-data").textContent);

async function load() {
  if (!key) { say("请输入密钥（角色 supervisor 或 admin）"); return; }
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($("#filters"))) if (value) query.set(name, value);
  try {
    document.getElementById(VIEW.frame).srcdoc = await api(VIEW.view + "?" + query, {}, "text");
    say("");
  } catch (e) { say(describeError(e, VIEW.errors_zh), true); }
}

$("#login").addEventListener("submit", (event) => { event.preventDefault(); useKey($("#key").value); load(); });
$("#filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
load();
