// Audience builder: rows of field, operator and value that write the JSON filter language
// (campaigns/audiences.py) into the form's raw "filters" field, and read it back when an
// expert edits the JSON. Keys the rows cannot show are kept as they are. After each change
// the server counts the matching contacts (bounded) and shows a few of them.
(function () {
  "use strict";
  const box = document.getElementById("audience-builder");
  const raw = document.getElementById("id_filters");
  const configNode = document.getElementById("audience-builder-config");
  if (!box || !raw || !configNode) return;
  const config = JSON.parse(configNode.textContent);
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]");
  const rowsList = document.getElementById("audience-rows");
  const $ = (id) => document.getElementById(id);

  // field -> label, its operators (op -> label) and the kind of value it takes.
  const FIELDS = {
    tags: { label: "Tags", value: "list", ops: { tags_any: "include any of", tags_all: "include all of" } },
    state: { label: "State", value: "list", ops: { state_in: "is one of" }, hint: "TX, FL" },
    time_zone: { label: "Time zone", value: "list", ops: { time_zone_in: "is one of" }, hint: "America/Chicago" },
    locale: { label: "Language", value: "list", ops: { locale_in: "is one of" }, hint: "es" },
    attribute: { label: "Attribute", value: "text", named: true, ops: { equals: "equals" } },
    consent: { label: "Consent to", value: "program", ops: { opted_in: "opted in", pending: "pending", opted_out: "opted out" } },
    messaged: { label: "Last message sent", value: "days", ops: { messaged_within_days: "within the last (days)", not_messaged_within_days: "not in the last (days)" } },
    replied: { label: "Replied", value: "days", ops: { replied_within_days: "within the last (days)" } },
    created: { label: "Added", value: "date", ops: { created_since: "on or after" } },
  };
  const LIST_KEYS = { tags_any: "tags", tags_all: "tags", state_in: "state", time_zone_in: "time_zone", locale_in: "locale" };
  const DAY_KEYS = { messaged_within_days: "messaged", not_messaged_within_days: "messaged", replied_within_days: "replied" };

  let rows = [];
  let kept = {}; // keys of the JSON the rows do not show, written back untouched
  let timer = null;
  let sequence = 0;

  // --- JSON <-> rows -------------------------------------------------------------------------

  function fromFilters(filters) {
    const result = [];
    kept = {};
    for (const [key, value] of Object.entries(filters)) {
      if (key in LIST_KEYS && Array.isArray(value)) {
        result.push({ field: LIST_KEYS[key], op: key, value: value.join(", ") });
      } else if (key in DAY_KEYS && Number.isInteger(value)) {
        result.push({ field: DAY_KEYS[key], op: key, value: String(value) });
      } else if (key === "created_since" && typeof value === "string") {
        result.push({ field: "created", op: key, value: value });
      } else if (key === "attributes" && value && typeof value === "object" && !Array.isArray(value)) {
        for (const [name, v] of Object.entries(value)) {
          result.push({ field: "attribute", op: "equals", name: name, value: typeof v === "string" ? v : JSON.stringify(v) });
        }
      } else if (key === "consent" && value && typeof value === "object" && typeof value.program === "string") {
        const { program, status, ...rest } = value;
        result.push({ field: "consent", op: status || "opted_in", value: program, rest: rest });
      } else {
        kept[key] = value;
      }
    }
    return result;
  }

  function typed(text) {
    // Attribute values are matched exactly in JSON: 3 and true are not "3" and "true".
    if (/^-?\d+(\.\d+)?$/.test(text) || text === "true" || text === "false" || text === "null") {
      return JSON.parse(text);
    }
    return text;
  }

  function complete(row) {
    if (row.value.trim() === "") return false;
    if (FIELDS[row.field].named && row.name.trim() === "") return false;
    if (FIELDS[row.field].value === "days") return /^[1-9]\d*$/.test(row.value.trim());
    return true;
  }

  function toFilters() {
    const filters = Object.assign({}, kept);
    for (const row of rows) {
      if (!complete(row)) continue;
      const value = row.value.trim();
      const kind = FIELDS[row.field].value;
      if (kind === "list") {
        const items = value.split(",").map((s) => s.trim()).filter(Boolean);
        filters[row.op] = (filters[row.op] || []).concat(items);
      } else if (kind === "days") {
        filters[row.op] = parseInt(value, 10);
      } else if (kind === "date") {
        filters[row.op] = value;
      } else if (row.field === "attribute") {
        filters.attributes = Object.assign(filters.attributes || {}, { [row.name.trim()]: typed(value) });
      } else if (row.field === "consent") {
        const spec = Object.assign({ program: value }, row.rest || {});
        if (row.op !== "opted_in") spec.status = row.op;
        filters.consent = spec;
      }
    }
    return filters;
  }

  // --- Rendering ------------------------------------------------------------------------------

  function control(tag, attrs, label) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    el.setAttribute("aria-label", label);
    return el;
  }

  function options(select, entries, selected) {
    for (const [value, text] of entries) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      option.selected = value === selected;
      select.appendChild(option);
    }
  }

  function renderRow(row, index) {
    const li = document.createElement("li");
    const n = index + 1;
    const field = control("select", { "data-role": "field" }, `Condition ${n}: field`);
    options(field, Object.entries(FIELDS).map(([k, f]) => [k, f.label]), row.field);
    field.addEventListener("change", () => {
      row.field = field.value;
      row.op = Object.keys(FIELDS[row.field].ops)[0];
      row.value = row.field === "consent" ? (config.programs[0] || "") : "";
      row.name = "";
      row.rest = {};
      changed(true);
    });
    li.appendChild(field);
    const spec = FIELDS[row.field];
    if (spec.named) {
      const name = control("input", { type: "text", "data-role": "name", placeholder: "name, e.g. loyalty_tier" }, `Condition ${n}: attribute name`);
      name.value = row.name || "";
      name.addEventListener("input", () => { row.name = name.value; changed(false); });
      li.appendChild(name);
    }
    const op = control("select", { "data-role": "op" }, `Condition ${n}: operator`);
    options(op, Object.entries(spec.ops), row.op);
    op.addEventListener("change", () => { row.op = op.value; changed(false); });
    li.appendChild(op);
    let value;
    if (spec.value === "program") {
      value = control("select", { "data-role": "value" }, `Condition ${n}: program`);
      options(value, config.programs.map((slug) => [slug, slug]), row.value);
      value.addEventListener("change", () => { row.value = value.value; changed(false); });
    } else {
      const type = { days: "number", date: "date" }[spec.value] || "text";
      const attrs = { type: type, "data-role": "value" };
      if (type === "number") attrs.min = "1";
      if (spec.hint) attrs.placeholder = spec.hint;
      if (row.field === "tags") {
        attrs.list = "audience-tag-names";
        attrs.placeholder = config.tags.slice(0, 3).join(", ") || "vip";
      }
      value = control("input", attrs, `Condition ${n}: value`);
      value.value = row.value;
      value.addEventListener("input", () => { row.value = value.value; changed(false); });
    }
    li.appendChild(value);
    if (row.rest && Object.keys(row.rest).length) {
      const note = document.createElement("small");
      note.textContent = "also: " + JSON.stringify(row.rest) + " (edit in the raw JSON)";
      li.appendChild(note);
    }
    const remove = control("button", { type: "button", class: "button" }, `Remove condition ${n}`);
    remove.textContent = "Remove";
    remove.addEventListener("click", () => { rows.splice(index, 1); changed(true); });
    li.appendChild(remove);
    if (!complete(row)) {
      const hint = document.createElement("span");
      hint.className = "incomplete";
      hint.textContent = "not used until filled in";
      li.appendChild(hint);
    }
    return li;
  }

  function render() {
    rowsList.textContent = "";
    rows.forEach((row, index) => rowsList.appendChild(renderRow(row, index)));
    const keptKeys = Object.keys(kept);
    if (keptKeys.length) {
      const li = document.createElement("li");
      li.textContent = "Also in the raw JSON (kept as is): " + keptKeys.join(", ");
      rowsList.appendChild(li);
    }
  }

  function changed(rerender) {
    raw.value = JSON.stringify(toFilters(), null, 1);
    if (rerender) {
      render();
    } else {
      // Keep focus in the field being typed in; only refresh the "not used" hints.
      rowsList.querySelectorAll("li").forEach((li, i) => {
        if (!rows[i]) return;
        let hint = li.querySelector(".incomplete");
        if (complete(rows[i]) && hint) hint.remove();
        if (!complete(rows[i]) && !hint) {
          hint = document.createElement("span");
          hint.className = "incomplete";
          hint.textContent = "not used until filled in";
          li.appendChild(hint);
        }
      });
    }
    schedule();
  }

  function readRaw() {
    let filters;
    const text = raw.value.trim();
    try {
      filters = text ? JSON.parse(text) : {};
    } catch (e) {
      showError("The raw JSON is not valid yet: " + e.message);
      return;
    }
    if (!filters || typeof filters !== "object" || Array.isArray(filters)) {
      showError("Filters must be a JSON object.");
      return;
    }
    rows = fromFilters(filters);
    render();
    schedule();
  }

  // --- Live count -----------------------------------------------------------------------------

  function showError(text) {
    $("audience-error").hidden = !text;
    $("audience-error").textContent = text || "";
  }

  function number(n, capped) {
    return (capped ? "more than " : "") + n.toLocaleString("en-US");
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }

  async function preview() {
    const mine = ++sequence;
    let filters;
    try {
      filters = JSON.parse(raw.value.trim() || "{}");
    } catch (e) {
      return;
    }
    const response = await fetch(config.preview_url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : "" },
      body: JSON.stringify({ filters: filters }),
      credentials: "same-origin",
    });
    if (mine !== sequence) return; // a newer request is on its way
    const data = await response.json();
    if (!response.ok) {
      showError(data.error || "Could not count.");
      $("audience-count").textContent = "—";
      return;
    }
    showError("");
    const one = data.count === 1 && !data.capped;
    $("audience-count").textContent =
      number(data.count, data.capped) + (one ? " contact matches" : " contacts match");
    const optedIn = $("audience-opted-in");
    optedIn.textContent = "";
    for (const row of data.opted_in) {
      const li = document.createElement("li");
      li.textContent = `${number(row.count, row.capped)} of them opted in to ${row.program}`;
      optedIn.appendChild(li);
    }
    const sample = $("audience-sample");
    sample.textContent = "";
    for (const contact of data.sample) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = contact.url;
      a.textContent = `${contact.name} (${contact.phone})`;
      li.appendChild(a);
      sample.appendChild(li);
    }
    if (!data.sample.length) sample.innerHTML = "<li>nobody</li>";
  }

  // --- Start ----------------------------------------------------------------------------------

  const datalist = document.createElement("datalist");
  datalist.id = "audience-tag-names";
  options(datalist, config.tags.map((t) => [t, t]), null);
  box.appendChild(datalist);
  $("audience-add-row").addEventListener("click", () => {
    rows.push({ field: "tags", op: "tags_any", value: "", name: "" });
    changed(true);
    const selects = rowsList.querySelectorAll("select[data-role=field]");
    if (selects.length) selects[selects.length - 1].focus();
  });
  raw.addEventListener("input", readRaw);
  const label = document.querySelector("label[for=id_filters]");
  if (label) label.textContent = "Raw JSON (for experts):";
  // The builder goes right above the raw JSON it writes.
  const rawRow = raw.closest(".form-row");
  if (rawRow) rawRow.parentNode.insertBefore(box, rawRow);
  box.hidden = false;
  // The builder's live preview replaces the page's static count and sample (kept without JS).
  document.querySelectorAll(".field-live_count, .field-sample").forEach((row) => { row.style.display = "none"; });
  readRaw();
})();
