// Live SMS meter for the template editor: as you type, the server's own analyser
// (templates/encoding.py, the one that decides at send time) reports characters,
// encoding, segments, non-GSM characters and content findings.
(function () {
  "use strict";
  const panel = document.getElementById("sms-meter");
  if (!panel) return;
  const textarea = document.querySelector("textarea.sms-editor");
  const templateSelect = document.getElementById("id_template");
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]");
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let sequence = 0;
  let latest = null;

  function highlight(text, nonGsm) {
    const box = $("sms-highlight");
    box.textContent = "";
    if (!nonGsm.length) return;
    const marked = new Set(nonGsm.flatMap((cluster) => Array.from(cluster)));
    for (const ch of Array.from(text)) {
      if (marked.has(ch)) {
        const mark = document.createElement("mark");
        mark.textContent = ch;
        box.appendChild(mark);
      } else {
        box.appendChild(document.createTextNode(ch));
      }
    }
  }

  function render(data, text) {
    $("sms-characters").textContent = data.characters;
    $("sms-encoding").textContent = data.encoding;
    $("sms-segments").textContent = data.segments;
    $("sms-segments-unit").textContent = data.segments === 1 ? "segment" : "segments";
    $("sms-segments-max").hidden = data.segments_max === data.segments;
    $("sms-segments-max-value").textContent = data.segments_max;
    $("sms-non-gsm").hidden = data.non_gsm.length === 0;
    $("sms-non-gsm-list").textContent = data.non_gsm.join(" ");
    $("sms-smart-fix").hidden = data.smart_encoding.replaced.length === 0;
    const tokenError = $("sms-token-error");
    tokenError.hidden = !data.token_error;
    tokenError.textContent = data.token_error || "";
    const list = $("sms-findings");
    list.textContent = "";
    for (const finding of data.findings) {
      const item = document.createElement("li");
      item.className = "sms-finding-" + finding.severity;
      const severity = document.createElement("strong");
      severity.textContent = finding.severity;
      item.append(severity, " " + finding.code + ": " + finding.message);
      list.appendChild(item);
    }
    highlight(text, data.non_gsm);
    panel.dataset.state = "ready";
  }

  // The chosen template (its program's brand and rules); on a saved version, its own.
  function templateId() {
    if (templateSelect && templateSelect.value) return templateSelect.value;
    return panel.dataset.templateId || null;
  }

  async function refresh() {
    if (!textarea) return;
    const mine = ++sequence;
    const text = textarea.value;
    panel.dataset.state = "busy";
    const response = await fetch(panel.dataset.analyzeUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : "" },
      body: JSON.stringify({ body: text, template: templateId() }),
      credentials: "same-origin",
    });
    if (!response.ok || mine !== sequence) return; // a newer keystroke wins
    latest = await response.json();
    render(latest, text);
  }

  if (textarea) {
    textarea.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 120);
    });
    if (templateSelect) templateSelect.addEventListener("change", refresh);
    $("sms-smart-fix").addEventListener("click", () => {
      if (!latest) return;
      textarea.value = latest.smart_encoding.text;
      refresh();
    });
    refresh();
  }
})();
