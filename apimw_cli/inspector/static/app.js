// apimw inspector: the page over one listen session's log.
// Everything that came from the log (an event's headers, its body, an app's answer) is untrusted:
// it reaches the page through textContent and text nodes only, never parsed as markup.
"use strict";

(() => {
  const TOKEN = document.querySelector('meta[name="apimw-token"]').getAttribute("content");
  const MAX_ROWS = 1000; // rows kept in the list; older ones come back through "load older"
  const PAGE = 200;
  const RAW_LIMIT = 256 * 1024; // body bytes drawn in the raw view (download has them all)
  const PRETTY_LIMIT = 1024 * 1024;
  const MAX_PRETTY_DEPTH = 64; // deeper JSON is shown raw only
  const PRETTY_OUTPUT = 4 * 1024 * 1024; // characters of indented text at most

  const $ = (id) => document.getElementById(id);
  const state = {
    info: {},
    rows: new Map(), // id -> row, for the rows in the list
    selected: null,
    more: false, // the server has older rows than the last one listed
    detached: false, // the list shows older rows and is not following new ones
    behind: 0, // bytes of the log the server has not read yet (a flood: it catches up)
    stream: null,
    detailTicket: 0,
    requery: null,
    resync: null,
    typing: null,
    unseen: 0,
  };

  // -- small DOM helpers ---------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setStatus(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.className = kind || "";
  }

  function apiPath(id, suffix) {
    return "/api/events/" + encodeURIComponent(id) + (suffix || "");
  }

  async function api(path, options) {
    const init = Object.assign({ headers: {} }, options || {});
    if (init.token) {
      init.headers["X-APIMW-Inspector-Token"] = TOKEN;
      delete init.token;
    }
    const response = await fetch(path, init);
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;
    }
    if (!response.ok) {
      const said = payload && typeof payload.error === "string" ? payload.error : "";
      throw new Error(said || "HTTP " + response.status);
    }
    return payload;
  }

  // -- making untrusted text visible ----------------------------------------------------------

  const INVISIBLE = [
    [0x80, 0x9f], [0xad, 0xad], [0x200b, 0x200f], [0x2028, 0x202e],
    [0x2060, 0x2069], [0xfeff, 0xfeff], [0xfff9, 0xfffb],
  ];

  function invisible(cp) {
    return INVISIBLE.some(([low, high]) => cp >= low && cp <= high);
  }

  // A control character as its escape, \x1b for ESC (readable in any font, unlike U+241B).
  function controlPicture(cp) {
    return "\\x" + hex(cp, 2);
  }

  function hex(n, width) {
    return n.toString(16).padStart(width, "0");
  }

  // A builder of text runs and marked spans (escapes), into one fragment.
  function textBuilder() {
    const fragment = document.createDocumentFragment();
    let run = "";
    return {
      text(s) { run += s; },
      mark(s, className) {
        if (run) fragment.appendChild(document.createTextNode(run));
        run = "";
        fragment.appendChild(el("span", className, s));
      },
      done() {
        if (run) fragment.appendChild(document.createTextNode(run));
        run = "";
        return fragment;
      },
    };
  }

  // A string (from JSON) with control, invisible and lone-surrogate characters made visible.
  // keepLines: a newline is also a line break (pretty views); else it shows as a symbol.
  function visible(text, keepLines) {
    const out = textBuilder();
    const s = String(text);
    for (let i = 0; i < s.length; i++) {
      const unit = s.charCodeAt(i);
      if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < s.length) {
        const low = s.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          out.text(s[i] + s[i + 1]);
          i++;
          continue;
        }
      }
      if (unit >= 0xd800 && unit <= 0xdfff) out.mark("\\u{" + hex(unit, 4) + "}", "badbyte");
      else if (unit === 0x0a && keepLines) out.text("\n");
      else if (unit === 0x09 && keepLines) out.text("\t");
      else if (unit < 0x20 || unit === 0x7f) {
        out.mark(controlPicture(unit), "esc");
        if (unit === 0x0a) out.text("\n");
      } else if (invisible(unit)) out.mark("\\u{" + hex(unit, 4) + "}", "esc");
      else out.text(s[i]);
    }
    return out.done();
  }

  // The code point of the UTF-8 sequence at bytes[i], and its length; [-1, 1] for a byte that
  // does not start a valid sequence (overlong forms and surrogates are not valid).
  function utf8At(bytes, i) {
    const c = bytes[i];
    let length, cp, min;
    if (c >= 0xc2 && c <= 0xdf) [length, cp, min] = [2, c & 0x1f, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [length, cp, min] = [3, c & 0x0f, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [length, cp, min] = [4, c & 0x07, 0x10000];
    else return [-1, 1];
    if (i + length > bytes.length) return [-1, 1];
    for (let k = 1; k < length; k++) {
      const next = bytes[i + k];
      if ((next & 0xc0) !== 0x80) return [-1, 1];
      cp = (cp << 6) | (next & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
    return [cp, length];
  }

  // Exact bytes as text: UTF-8 decoded, line feeds and tabs as they are, other controls as
  // escapes (\x1b), invisible characters as \u{...}, bytes that are not UTF-8 as \xNN (marked
  // apart by their colour). So a body of plain text shows exactly as it is.
  function rawBytes(bytes, limit) {
    const out = textBuilder();
    const end = Math.min(bytes.length, limit);
    let i = 0;
    while (i < end) {
      const b = bytes[i];
      if (b < 0x80) {
        if (b === 0x0a || b === 0x09) out.text(String.fromCharCode(b));
        else if (b < 0x20 || b === 0x7f) out.mark(controlPicture(b), "esc");
        else out.text(String.fromCharCode(b));
        i++;
        continue;
      }
      const [cp, length] = utf8At(bytes, i);
      if (cp < 0) out.mark("\\x" + hex(b, 2), "badbyte");
      else if (invisible(cp)) out.mark("\\u{" + hex(cp, 4) + "}", "esc");
      else out.text(String.fromCodePoint(cp));
      i += cp < 0 ? 1 : length;
    }
    return out.done();
  }

  // JSON text re-indented token by token: numbers, escapes and key order stay exactly as sent
  // (JSON.parse then stringify would round big numbers and drop duplicate keys). Returns
  // {text} or {error}: not JSON, nested deeper than MAX_PRETTY_DEPTH, or more than
  // PRETTY_OUTPUT characters once indented (a hostile body must not freeze the page).
  function prettyJSON(text) {
    try {
      JSON.parse(text);
    } catch (_) {
      return { error: "not JSON" };
    }
    const parts = [];
    let depth = 0;
    let size = 0;
    const push = (piece) => {
      parts.push(piece);
      size += piece.length;
    };
    const newline = () => "\n" + "  ".repeat(depth);
    for (let i = 0; i < text.length; i++) {
      if (size > PRETTY_OUTPUT) return { error: "too large once indented" };
      const ch = text[i];
      if (ch === '"') {
        let j = i + 1;
        while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
        push(text.slice(i, j + 1));
        i = j;
      } else if (ch === "{" || ch === "[") {
        const close = ch === "{" ? "}" : "]";
        let k = i + 1;
        while (" \t\r\n".includes(text[k])) k++;
        if (text[k] === close) {
          push(ch + close);
          i = k;
        } else {
          if (++depth > MAX_PRETTY_DEPTH) return { error: "nested more than " + MAX_PRETTY_DEPTH + " deep" };
          push(ch + newline());
        }
      } else if (ch === "}" || ch === "]") {
        depth--;
        push(newline() + ch);
      } else if (ch === ",") push("," + newline());
      else if (ch === ":") push(": ");
      else if (!" \t\r\n".includes(ch)) push(ch);
    }
    return { text: parts.join("") };
  }

  function decodeUTF8(bytes) {
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch (_) {
      return null;
    }
  }

  function bytesOfBase64(text) {
    try {
      const binary = atob(String(text));
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      return bytes;
    } catch (_) {
      return null;
    }
  }

  function sizeText(n) {
    if (n < 1024) return n + " bytes";
    const kb = n / 1024;
    if (kb < 1024) return n + " bytes (" + kb.toFixed(1) + " KB)";
    return n + " bytes (" + (kb / 1024).toFixed(1) + " MB)";
  }

  function roughSize(n) {
    if (n < 1024 * 1024) return Math.max(1, Math.round(n / 1024)) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  // -- what a row says -----------------------------------------------------------------------

  const isReplay = (row) => row.kind === "replay";
  const originalOf = (row) => String(row.replay_of === null || row.replay_of === undefined ? "" : row.replay_of);

  function timeOf(row) {
    const at = Number(row.received_at !== undefined ? row.received_at : row.at);
    if (!Number.isFinite(at)) return ["", ""];
    const date = new Date(at * 1000);
    const two = (n) => String(n).padStart(2, "0");
    const clock = two(date.getHours()) + ":" + two(date.getMinutes()) + ":" +
      two(date.getSeconds()) + "." + String(date.getMilliseconds()).padStart(3, "0");
    return [clock, date.toISOString()];
  }

  function verdictCode(row) {
    const verdict = row.verdict;
    if (verdict && typeof verdict === "object") return String(verdict.code || "");
    return verdict === undefined || verdict === null ? "" : String(verdict);
  }

  const VERDICT_WORDS = {
    valid: ["✓ valid", "ok"],
    invalid: ["✗ invalid", "bad"],
    mismatch: ["✗ mismatch", "bad"],
    malformed_header: ["✗ malformed", "bad"],
    missing_header: ["– unsigned", "warn"],
    unsigned: ["– unsigned", "warn"],
    no_secret: ["not checked", "muted"],
    skipped: ["not checked", "muted"],
  };

  function verdictCell(row) {
    const code = verdictCode(row);
    if (!code) return el("span", "muted", isReplay(row) ? "" : "–");
    const [words, kind] = VERDICT_WORDS[code] || [code, "warn"];
    return el("span", kind, words);
  }

  function markText(row) {
    if (isReplay(row)) return row.mode === "resigned" ? "replay (re-signed)" : "replay";
    const marks = [];
    if (row.duplicate) marks.push("duplicate");
    const attempt = Number(row.attempt);
    if (row.attempt !== null && Number.isFinite(attempt) && attempt > 1) marks.push("retry #" + attempt);
    if (row.note) marks.push("⚠");
    return marks.join(" ");
  }

  function statusKind(status) {
    const n = Number(status);
    if (!Number.isFinite(n) || status === null) return "muted";
    return n >= 200 && n < 300 ? "ok" : n >= 400 ? "bad" : "warn";
  }

  function forwardsOf(row) {
    return Array.isArray(row.forwards) ? row.forwards : [];
  }

  function forwardWords(forward) {
    if (forward.pending) return ["… pending", "muted"];
    const ms = Number(forward.ms);
    const took = Number.isFinite(ms) ? " " + (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + "ms" : "";
    if (forward.status !== null && forward.status !== undefined) {
      return [String(forward.status) + took, statusKind(forward.status)];
    }
    if (forward.error) return ["✗ " + String(forward.error) + took, "bad"];
    return ["…", "muted"];
  }

  function forwardsCell(row) {
    const cell = document.createDocumentFragment();
    const forwards = forwardsOf(row);
    if (!forwards.length) cell.appendChild(el("span", "muted", row.forward_state === "pending" ? "…" : ""));
    for (const forward of forwards) {
      const [words, kind] = forwardWords(forward);
      const span = el("span", "fwd " + kind, words);
      if (forward.target) span.title = String(forward.target);
      cell.appendChild(span);
    }
    return cell;
  }

  function cell(className, content, title) {
    const td = el("td", className);
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content === undefined || content === null ? "" : String(content);
    if (title) td.title = String(title);
    return td;
  }

  function rowElement(row) {
    const tr = el("tr", "event-row");
    tr.dataset.id = String(row.id);
    if (isReplay(row)) {
      tr.classList.add("replay-row");
      tr.dataset.of = originalOf(row);
    }
    const [clock, iso] = timeOf(row);
    const type = row.event_type !== undefined ? row.event_type : row.type;
    const delivery = row.delivery_id === undefined || row.delivery_id === null ? "" : String(row.delivery_id);
    const status = isReplay(row) ? "" : row.status;
    const statusCell = cell("col-status", el("span", statusKind(status), status === null ? "" : status));
    tr.append(
      cell("col-time", clock, iso),
      cell("col-type", type === null || type === undefined ? "" : String(type), type),
      cell("col-delivery", delivery.length > 14 ? "…" + delivery.slice(-12) : delivery, delivery),
      cell("col-verdict", verdictCell(row)),
      cell("col-mark", markText(row)),
      statusCell,
      cell("col-forwards", forwardsCell(row)),
    );
    if (state.selected === tr.dataset.id) tr.classList.add("selected");
    return tr;
  }

  // -- the list ------------------------------------------------------------------------------

  function rowNode(id) {
    for (const tr of $("events").children) if (tr.dataset.id === id) return tr;
    return null;
  }

  function noteType(row) {
    const type = row.event_type;
    if (typeof type !== "string" || !type) return;
    const list = $("known-types");
    if (list.children.length >= 200) return;
    for (const option of list.children) if (option.value === type) return;
    const option = document.createElement("option");
    option.value = type;
    list.appendChild(option);
  }

  function showEmpty() {
    $("empty").hidden = $("events").children.length > 0;
    $("empty").textContent = filtersActive() ? "No events match these filters." : "No events yet.";
    $("load-older").hidden = !state.more;
  }

  function replaceList(rows, more) {
    state.rows.clear();
    const body = $("events");
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      state.rows.set(String(row.id), row);
      fragment.appendChild(rowElement(row));
      noteType(row);
    }
    body.replaceChildren(fragment);
    state.more = Boolean(more);
    state.detached = false;
    state.unseen = 0;
    showEmpty();
  }

  function addNewRows(rows) {
    const body = $("events");
    for (let i = rows.length - 1; i >= 0; i--) {
      const row = rows[i];
      const id = String(row.id);
      noteType(row);
      if (state.rows.has(id)) continue;
      state.rows.set(id, row);
      const tr = rowElement(row);
      tr.classList.add("fresh");
      body.insertBefore(tr, body.firstChild);
    }
    while (body.children.length > MAX_ROWS) {
      const last = body.lastElementChild;
      state.rows.delete(last.dataset.id);
      last.remove();
      state.more = true;
    }
    showEmpty();
  }

  function updateRow(row) {
    const id = String(row.id);
    const tr = rowNode(id);
    state.rows.set(id, row);
    if (tr) tr.replaceWith(rowElement(row));
  }

  function filterQuery() {
    const params = new URLSearchParams();
    const add = (name, value) => { if (value) params.set(name, value); };
    add("type", $("filter-type").value.trim());
    add("verdict", $("filter-verdict").value);
    add("forward", $("filter-forward").value);
    add("q", $("search").value);
    return params;
  }

  function filtersActive() {
    return [...filterQuery().keys()].length > 0;
  }

  async function loadList() {
    const params = filterQuery();
    params.set("limit", String(PAGE));
    setStatus("loading…");
    try {
      const page = await api("/api/events?" + params.toString());
      replaceList(page.rows, page.more);
      setLiveStatus();
      return page;
    } catch (error) {
      setStatus("could not load events: " + error.message, "error");
      return null;
    }
  }

  async function loadOlder() {
    const last = $("events").lastElementChild;
    if (!last) return;
    const params = filterQuery();
    params.set("limit", String(PAGE));
    params.set("before", last.dataset.id);
    try {
      const page = await api("/api/events?" + params.toString());
      const body = $("events");
      for (const row of page.rows) {
        const id = String(row.id);
        if (state.rows.has(id)) continue;
        state.rows.set(id, row);
        body.appendChild(rowElement(row));
      }
      state.more = page.more;
      while (body.children.length > MAX_ROWS) {
        const first = body.firstElementChild;
        state.rows.delete(first.dataset.id);
        first.remove();
        state.detached = true;
      }
      showEmpty();
      setLiveStatus();
    } catch (error) {
      setStatus("could not load older events: " + error.message, "error");
    }
  }

  // After typing in a filter: the list is asked for once the typing pauses (debounced).
  function scheduleRequery(delay) {
    clearTimeout(state.requery);
    state.requery = setTimeout(loadList, delay);
  }

  // New rows under a filter, or more outcomes than the stream carried: the list is asked for
  // again at most once a `delay` (throttled: a flood must not postpone it for ever).
  function scheduleResync(delay) {
    if (state.resync) return;
    state.resync = setTimeout(() => {
      state.resync = null;
      loadList();
    }, delay);
  }

  // -- the stream ----------------------------------------------------------------------------

  function setLiveStatus() {
    const where = state.info.live ? "live" : "past session";
    const count = state.rows.size + (state.more ? "+" : "") + " shown";
    if (state.detached) {
      const unseen = state.unseen ? ", " + state.unseen + " newer not shown" : "";
      setStatus("showing older events" + unseen + " (Home: back to the newest)");
    } else if (state.stream && state.stream.readyState === EventSource.OPEN) {
      const behind = state.behind ? " · catching up (" + roughSize(state.behind) + " of the log to read)" : "";
      setStatus(where + " · " + count + behind, state.info.live ? "live" : "");
    } else setStatus(where + " · " + count + " · connecting…");
  }

  function onRows(message) {
    const data = JSON.parse(message.data);
    state.behind = Number(data.behind) || 0; // a flood: the index reads the log at its own pace
    if (state.detached) {
      state.unseen += data.rows.length + (data.skipped || 0);
    } else if (filtersActive()) {
      scheduleResync(500); // the server knows which of them match
    } else if (data.skipped) {
      replaceList(data.rows, true); // a flood: the newest rows, older ones through "load older"
    } else addNewRows(data.rows);
    setLiveStatus();
  }

  function onForwards(message) {
    const data = JSON.parse(message.data);
    for (const update of data.updates) {
      const id = String(update.id);
      const row = state.rows.get(id);
      if (!row) continue;
      updateRow(Object.assign({}, row, update));
      if (state.selected === id) showDetail(id, true);
    }
    if (data.skipped && !state.detached) scheduleResync(3000); // a flood: the stream has the newest
  }

  function connect(cursor) {
    const params = new URLSearchParams();
    if (cursor) {
      params.set("after", String(cursor.seq));
      params.set("forwards", String(cursor.forwards));
    }
    const stream = new EventSource("/api/stream?" + params.toString());
    stream.addEventListener("rows", onRows);
    stream.addEventListener("forwards", onForwards);
    // The inspector restarted on this port (listen ran again): this page's token and rows
    // are of the run before.
    stream.addEventListener("reload", () => location.reload());
    stream.onopen = setLiveStatus;
    stream.onerror = () => {
      if (stream.readyState === EventSource.CLOSED) setStatus("disconnected: reload the page", "error");
      else setStatus("connection lost: reconnecting…", "error");
    };
    state.stream = stream;
  }

  // -- selection and details -----------------------------------------------------------------

  function select(id, scroll) {
    const previous = state.selected === null ? null : rowNode(state.selected);
    if (previous) previous.classList.remove("selected");
    state.selected = id;
    const tr = rowNode(id);
    if (tr) {
      tr.classList.add("selected");
      if (scroll) tr.scrollIntoView({ block: "nearest" });
    }
    showDetail(id, false);
  }

  function move(step) {
    const current = state.selected === null ? null : rowNode(state.selected);
    let next;
    if (!current) next = $("events").firstElementChild;
    else next = step > 0 ? current.nextElementSibling : current.previousElementSibling;
    if (next) select(next.dataset.id, true);
    else if (step > 0 && state.more) loadOlder();
  }

  function headerPairs(headers) {
    if (Array.isArray(headers)) {
      return headers.filter((pair) => Array.isArray(pair)).map((pair) => [pair[0], pair[1]]);
    }
    if (headers && typeof headers === "object") return Object.entries(headers);
    return [];
  }

  function headersTable(table, headers) {
    const body = document.createElement("tbody");
    for (const [name, value] of headerPairs(headers)) {
      const tr = document.createElement("tr");
      const nameCell = el("td");
      nameCell.appendChild(visible(name, false));
      const valueCell = el("td");
      valueCell.appendChild(visible(typeof value === "string" ? value : JSON.stringify(value), false));
      tr.append(nameCell, valueCell);
      body.appendChild(tr);
    }
    table.replaceChildren(body);
    return table;
  }

  function eventLink(id, words) {
    const link = el("a", "", words);
    link.href = "#" + encodeURIComponent(String(id));
    link.addEventListener("click", (event) => {
      event.preventDefault();
      openEvent(String(id));
    });
    return link;
  }

  async function openEvent(id) {
    if (!rowNode(id)) {
      try {
        const detail = await api(apiPath(id));
        if (!state.rows.has(id) && detail) addNewRows([detail]);
      } catch (error) {
        setStatus("could not open " + id + ": " + error.message, "error");
        return;
      }
    }
    select(id, true);
  }

  function showVerdict(detail) {
    const line = $("detail-verdict");
    const verdict = detail.verdict && typeof detail.verdict === "object" ? detail.verdict : null;
    const old = $("detail-diagnosis");
    if (old) old.remove();
    if (isReplay(detail)) {
      line.textContent = "a replay: see the original for its signature";
      return;
    }
    if (!verdict) {
      line.textContent = verdictCode(detail) || "not checked (no secret given to listen)";
      return;
    }
    const code = String(verdict.code || "");
    const failed = code && code !== "valid" && code !== "skipped" && code !== "no_secret";
    // A failure's words go in #detail-diagnosis: the diagnosis, else the reason (said once).
    const reasonOnLine = !failed || verdict.diagnosis;
    line.replaceChildren(verdictCell(detail), document.createTextNode(reasonOnLine ? " " + String(verdict.reason || "") : ""));
    if (failed) {
      const diagnosis = el("p", "", null);
      diagnosis.id = "detail-diagnosis";
      diagnosis.appendChild(visible(String(verdict.diagnosis || verdict.reason || code), true));
      line.after(diagnosis);
    }
  }

  // The app's answer body: {text, base64, truncated} (or, as a log line has it, the text in
  // response_body or base64 in response_body_b64).
  function responseBody(forward) {
    let body = forward.response_body;
    if (typeof body === "string") body = { text: body };
    else if (typeof forward.response_body_b64 === "string") body = { base64: forward.response_body_b64 };
    if (!body || typeof body !== "object") return null;
    if (typeof body.base64 === "string") {
      const bytes = bytesOfBase64(body.base64);
      if (bytes) return rawBytes(bytes, RAW_LIMIT);
    }
    if (typeof body.text === "string") return visible(body.text, true);
    return null;
  }

  function responseTruncated(forward) {
    const body = forward.response_body;
    return forward.response_truncated === true || Boolean(body && typeof body === "object" && body.truncated);
  }

  function forwardAttempt(forward) {
    const box = el("div", "forward-attempt");
    const [words, kind] = forwardWords(forward);
    const head = el("div", "head");
    head.append(el("span", kind, words), document.createTextNode("  → " + String(forward.target || "")));
    if (forward.error && forward.status !== null && forward.status !== undefined) {
      head.append(el("span", "bad", "  " + String(forward.error)));
    }
    box.appendChild(head);
    const pairs = headerPairs(forward.response_headers);
    if (pairs.length) box.appendChild(headersTable(el("table", "kv"), forward.response_headers));
    const body = responseBody(forward);
    if (body) {
      const pre = el("pre", "data");
      pre.appendChild(body);
      if (responseTruncated(forward)) pre.appendChild(el("span", "muted", "\n… (cut at 64 KB)"));
      box.appendChild(pre);
    }
    return box;
  }

  function showLinks(list, items, words) {
    const fragment = document.createDocumentFragment();
    for (const item of items) {
      if (!item || item.id === undefined) continue;
      const li = document.createElement("li");
      const [clock] = timeOf(item);
      li.append(eventLink(item.id, String(item.id)), document.createTextNode(" " + words(item, clock)));
      fragment.appendChild(li);
    }
    if (!fragment.childNodes.length) fragment.appendChild(el("li", "muted", "none"));
    list.replaceChildren(fragment);
  }

  function showDetailText(detail) {
    const type = detail.event_type === undefined ? detail.type : detail.event_type;
    const [clock, iso] = timeOf(detail);
    $("detail-title").textContent = [type || "(no type)", String(detail.id), iso || clock].join("  ");
    const request = $("detail-request");
    if (isReplay(detail)) {
      request.replaceChildren(
        document.createTextNode("replay (" + String(detail.mode || "") + ") of "),
        eventLink(originalOf(detail), originalOf(detail)),
      );
      if (detail.note) request.appendChild(el("div", "warn", detail.note));
    } else {
      request.replaceChildren(visible([detail.method || "", detail.path || "", "→ APIMW got", detail.status === undefined ? "" : detail.status].join(" "), false));
    }
    showVerdict(detail);
    headersTable($("detail-headers"), detail.headers);
    const forwards = forwardsOf(detail);
    const box = $("detail-forwards");
    box.replaceChildren(...forwards.map(forwardAttempt));
    if (!forwards.length) box.appendChild(el("p", "muted", "not forwarded"));
    showLinks($("detail-attempts"), Array.isArray(detail.attempts) ? detail.attempts : [], (item, clock) =>
      clock + (item.status !== undefined ? " · APIMW got " + item.status : ""));
    showLinks($("detail-replays"), Array.isArray(detail.replays) ? detail.replays : [], (item, clock) => {
      const [words] = forwardsOf(item).length ? forwardWords(forwardsOf(item)[0]) : ["…"];
      return clock + " · " + (item.mode || "") + " → " + words;
    });
  }

  async function showBody(id, ticket, why) {
    const pretty = $("detail-body-pretty");
    const raw = $("detail-body-raw");
    let bytes;
    try {
      const response = await fetch(apiPath(id, "/body"));
      if (!response.ok) throw new Error(why || "HTTP " + response.status);
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      if (ticket !== state.detailTicket) return;
      $("detail-size").textContent = "(none)";
      pretty.textContent = "";
      raw.textContent = "(no body to show: " + error.message + ")";
      return;
    }
    if (ticket !== state.detailTicket) return;
    $("detail-size").textContent = sizeText(bytes.length);
    raw.replaceChildren(rawBytes(bytes, RAW_LIMIT));
    if (bytes.length > RAW_LIMIT) raw.appendChild(el("span", "muted", "\n… (first " + RAW_LIMIT / 1024 + " KB shown: download for all of it)"));
    const text = bytes.length <= PRETTY_LIMIT ? decodeUTF8(bytes) : null;
    if (text === null) {
      pretty.textContent = bytes.length > PRETTY_LIMIT ? "(too large to pretty-print: see raw, or download)" : "(not UTF-8 text: see raw)";
      return;
    }
    const indented = prettyJSON(text);
    if (indented.text !== undefined) pretty.replaceChildren(visible(indented.text, true));
    else if (indented.error === "not JSON") pretty.replaceChildren(visible(text, true)); // as it is
    else pretty.textContent = "(not pretty-printed: " + indented.error + "; see raw)";
  }

  // The details of row `id`. A full load (a selection) draws everything and cancels an older
  // one; a quiet one (new outcomes for the row shown) redraws the text parts only and never
  // cancels a full load still under way (its body would never be drawn).
  async function showDetail(id, quiet) {
    const ticket = quiet ? state.detailTicket : ++state.detailTicket;
    if (!quiet) {
      $("detail").hidden = false;
      updateActions(id);
      $("curl-command").hidden = true;
      $("curl-command").textContent = "";
    }
    let detail;
    try {
      detail = await api(apiPath(id));
    } catch (error) {
      if (ticket === state.detailTicket && !quiet) setStatus("could not load " + id + ": " + error.message, "error");
      return;
    }
    if (ticket !== state.detailTicket || state.selected !== id) return;
    showDetailText(detail);
    if (!quiet) await showBody(id, ticket, typeof detail.body_error === "string" ? detail.body_error : "");
  }

  // -- actions -------------------------------------------------------------------------------

  function updateActions(id) {
    const info = state.info;
    const verbatim = $("replay-verbatim");
    const resigned = $("replay-resigned");
    verbatim.disabled = !info.can_replay;
    resigned.disabled = !info.can_replay || !info.can_resign;
    verbatim.title = info.can_replay ? "send it again to " + (info.target || "the target") + ", byte for byte" : info.replay_off || "";
    resigned.title = resigned.disabled ? (info.replay_off || info.resign_off || "") : "send it again with a fresh signature";
    const notes = [];
    if (!info.can_replay && info.replay_off) notes.push(info.replay_off);
    else if (!info.can_resign && info.resign_off) notes.push(info.resign_off);
    $("action-note").textContent = notes.join("; ");
    const download = $("download-body");
    download.href = apiPath(id, "/body");
    download.setAttribute("download", String(id).replace(/[^A-Za-z0-9_.-]/g, "_") + ".body");
  }

  async function replay(mode) {
    const id = state.selected;
    if (id === null) return;
    setStatus("replaying " + id + " (" + mode + ")…");
    try {
      const row = await api(apiPath(id, "/replay"), {
        method: "POST",
        token: true,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ mode: mode }),
      });
      if (!state.detached && !state.rows.has(String(row.id))) addNewRows([row]);
      const outcome = forwardsOf(row)[0] || {};
      const [words, kind] = forwardWords(outcome);
      setStatus("replayed " + id + " → " + words + (row.note ? " (" + row.note + ")" : ""), kind === "ok" ? "" : "error");
      if (state.selected === id) showDetail(id, true);
    } catch (error) {
      setStatus("replay refused: " + error.message, "error");
    }
  }

  async function copyCurl() {
    const id = state.selected;
    if (id === null) return;
    const mode = state.info.can_resign ? "resigned" : "verbatim";
    const pre = $("curl-command");
    try {
      const answer = await api(apiPath(id, "/curl?mode=" + mode), { token: true });
      pre.textContent = answer.command;
      pre.hidden = false;
    } catch (error) {
      setStatus("copy as curl refused: " + error.message, "error");
      return;
    }
    try {
      await navigator.clipboard.writeText(pre.textContent);
      setStatus("curl command copied (" + mode + ")");
    } catch (_) {
      setStatus("curl command shown below (the clipboard is not available here)");
    }
  }

  // -- wiring --------------------------------------------------------------------------------

  function onKey(event) {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "ArrowDown" || event.key === "j") move(1);
    else if (event.key === "ArrowUp" || event.key === "k") move(-1);
    else if (event.key === "Home" && state.detached) loadList();
    else if (event.key === "/") $("search").focus();
    else return;
    event.preventDefault();
  }

  function wire() {
    $("events").addEventListener("click", (event) => {
      const tr = event.target.closest(".event-row");
      if (tr) select(tr.dataset.id, false);
    });
    $("load-older").addEventListener("click", loadOlder);
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    $("filter-verdict").addEventListener("change", () => scheduleRequery(0));
    $("filter-forward").addEventListener("change", () => scheduleRequery(0));
    $("filter-type").addEventListener("input", () => scheduleRequery(300));
    $("search").addEventListener("input", () => scheduleRequery(300));
    $("replay-verbatim").addEventListener("click", () => replay("verbatim"));
    $("replay-resigned").addEventListener("click", () => replay("resigned"));
    $("copy-curl").addEventListener("click", copyCurl);
    document.addEventListener("keydown", onKey);
  }

  async function start() {
    wire();
    try {
      state.info = await api("/api/info");
    } catch (error) {
      setStatus("could not reach the inspector: " + error.message, "error");
      return;
    }
    const parts = [state.info.title, state.info.log, state.info.live ? "live" : "past session"];
    $("session").textContent = parts.filter(Boolean).join(" · ");
    if (state.info.title) document.title = "apimw inspector · " + state.info.title;
    const page = await loadList();
    connect(page ? page.cursor : null);
  }

  start();
})();
