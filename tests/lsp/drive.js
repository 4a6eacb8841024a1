#!/usr/bin/env node
// Drives a real YAML language server (e.g. yaml-language-server) over LSP on stdio and prints
// ONE JSON object with the results. Dependency-free: Node 20 built-ins only.
//
//   node drive.js <server-js-path> <requests.json>
//   node drive.js src/LGMSNet.LanguageServer/bin/Debug/net10.0/LGMSNet.LanguageServer.dll <requests.json>   (lgmsnet lsp)
//
// requests.json:
// {
//   "settings":  { "yaml": { ... } },   // optional; answers workspace/configuration and is sent with
//                                        // workspace/didChangeConfiguration. Default: validate, completion
//                                        // and hover on, no schema associations (use the modeline).
//   "rootPath":  "/work/main",          // optional workspace root (default: the current directory)
//   "timeoutMs": 60000,                 // optional overall limit
//   "quietMs":   1500,                  // optional: diagnostics are read once every document has been
//                                        // published at least once and nothing was published for quietMs
//   "documents": [ { "id": "a", "path": "/abs/or/relative/file.yaml", "text": "..." }
//                  // or "file": "path to read the text from" instead of "text"
//                ],
//   "requests": [
//     { "id": "d", "type": "diagnostics", "doc": "a" },
//     { "id": "c", "type": "completion",  "doc": "a", "line": 3, "character": 4 },
//     { "id": "h", "type": "hover",       "doc": "a", "find": "kernels", "offset": 2 },
//     { "id": "x", "type": "completion",  "doc": "a", "find": "- \n", "offset": 2,
//       "apply": "lms", "labels": ["lms", "gms"] }
//   ]
// }
// Positions: "line"/"character" (0-based, UTF-16), or "find" (first occurrence of a substring in
// the document text; "nth" picks a later one, 0-based) plus "offset" (code units from its start).
// "apply": apply the first completion item whose label equals it (textEdit or insertText, snippet
// placeholders replaced by their default text, additionalTextEdits, VS Code-style indentation of
// the following lines unless insertTextMode is asIs) and print the resulting document text.
// "applyKind": with "apply", only an item of this CompletionItemKind (e.g. 10 property, 12 value).
// "labels": only report items with these labels (the count of all items is still reported).
// "applyAll": true: also apply every item, each to the unchanged document, and print each resulting text ("appliedAll").
// "raw": true adds the server's raw response.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');

function fail(message, extra) {
  process.stdout.write(JSON.stringify({ ok: false, error: message, ...extra }, null, 2) + '\n');
  process.exit(1);
}

if (process.argv.length < 4) {
  fail('usage: node drive.js <server-js-path> <requests.json>');
}
const serverPath = path.resolve(process.argv[2]);
const specPath = path.resolve(process.argv[3]);
if (!fs.existsSync(serverPath)) fail(`server not found: ${serverPath}`);
let spec;
try {
  spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
} catch (e) {
  fail(`cannot read ${specPath}: ${e.message}`);
}
const specDir = path.dirname(specPath);
const timeoutMs = spec.timeoutMs ?? 60000;
const quietMs = spec.quietMs ?? 1500;
const settings = spec.settings ?? { yaml: { validate: true, completion: true, hover: true } };
const rootPath = path.resolve(spec.rootPath ?? process.cwd());

// ---------------------------------------------------------------- documents
const docs = new Map();
for (const d of spec.documents ?? []) {
  const p = path.resolve(specDir, d.path);
  const text = d.text !== undefined ? d.text : fs.readFileSync(path.resolve(specDir, d.file), 'utf8');
  const uri = pathToFileURL(p).href;
  docs.set(d.id ?? d.path, { id: d.id ?? d.path, uri, path: p, text, version: 1 });
}

// ---------------------------------------------------------------- server process
// A .js server runs under this Node; a .dll (the repository's own server, LGMSNet.LanguageServer.dll) as `dotnet <dll> lsp`;
// anything else is started as an executable (e.g. an installed `lgmsnet`, given with its `lsp` subcommand).
const child = serverPath.endsWith('.dll')
  ? spawn('dotnet', [serverPath, 'lsp', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] })
  : serverPath.endsWith('.js') || fs.readFileSync(serverPath).subarray(0, 2).toString() === '#!'
    ? spawn(process.execPath, [serverPath, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(serverPath, ['lsp', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
const stderrChunks = [];
const log = [];
child.stderr.on('data', (b) => stderrChunks.push(b));
let exited = null;
child.on('exit', (code, signal) => {
  exited = { code, signal };
  for (const { reject } of pending.values()) reject(new Error(`server exited (${code ?? signal})`));
  pending.clear();
});
child.on('error', (e) => fail(`cannot start server: ${e.message}`));

const overall = setTimeout(() => {
  finish({ ok: false, error: `timed out after ${timeoutMs} ms (the server did not answer)`, partial: results });
}, timeoutMs);

let nextId = 1;
const pending = new Map();
const published = new Map(); // uri -> { version, diagnostics, count }
let lastPublish = 0;

function send(msg) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }), 'utf8');
  child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  child.stdin.write(body);
}
function request(method, params, ms = timeoutMs) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`no answer to ${method} within ${ms} ms`));
    }, ms);
    pending.set(id, {
      resolve: (v) => (clearTimeout(timer), resolve(v)),
      reject: (e) => (clearTimeout(timer), reject(e)),
    });
    send({ id, method, params });
  });
}
function notify(method, params) {
  send({ method, params });
}

function configurationFor(section) {
  if (!section) return settings;
  let v = settings;
  for (const part of section.split('.')) {
    if (v && typeof v === 'object' && part in v) v = v[part];
    else return section.startsWith('[') || section === 'editor' || section === 'http' ? {} : null;
  }
  return v;
}

function onServerRequest(msg) {
  let result = null;
  switch (msg.method) {
    case 'workspace/configuration':
      result = (msg.params.items ?? []).map((it) => configurationFor(it.section));
      break;
    case 'workspace/workspaceFolders':
      result = [{ uri: pathToFileURL(rootPath).href, name: path.basename(rootPath) }];
      break;
    default:
      result = null; // client/registerCapability, window/workDoneProgress/create, refresh requests ...
  }
  log.push({ serverRequest: msg.method });
  send({ id: msg.id, result });
}

function onMessage(msg) {
  if (msg.id !== undefined && msg.method === undefined) {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${msg.error.code}: ${msg.error.message}`));
    else p.resolve(msg.result);
  } else if (msg.id !== undefined) {
    onServerRequest(msg);
  } else if (msg.method === 'textDocument/publishDiagnostics') {
    const prev = published.get(msg.params.uri);
    published.set(msg.params.uri, {
      version: msg.params.version,
      diagnostics: msg.params.diagnostics,
      count: (prev?.count ?? 0) + 1,
    });
    lastPublish = Date.now();
  } else if (msg.method === 'window/logMessage' || msg.method === 'window/showMessage') {
    if (log.length < 200) log.push({ [msg.method]: msg.params.message });
  }
}

let buffer = Buffer.alloc(0);
child.stdout.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const headerEnd = buffer.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const header = buffer.subarray(0, headerEnd).toString('ascii');
    const m = /Content-Length:\s*(\d+)/i.exec(header);
    if (!m) {
      buffer = buffer.subarray(headerEnd + 4);
      continue;
    }
    const len = Number(m[1]);
    if (buffer.length < headerEnd + 4 + len) return;
    const body = buffer.subarray(headerEnd + 4, headerEnd + 4 + len).toString('utf8');
    buffer = buffer.subarray(headerEnd + 4 + len);
    try {
      onMessage(JSON.parse(body));
    } catch (e) {
      log.push({ parseError: e.message });
    }
  }
});

// ---------------------------------------------------------------- text helpers
function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return starts;
}
function offsetAt(text, pos) {
  const starts = lineStarts(text);
  if (pos.line >= starts.length) return text.length;
  const lineEnd = pos.line + 1 < starts.length ? starts[pos.line + 1] - 1 : text.length;
  return Math.min(starts[pos.line] + pos.character, lineEnd);
}
function positionAt(text, offset) {
  const starts = lineStarts(text);
  let line = 0;
  while (line + 1 < starts.length && starts[line + 1] <= offset) line++;
  return { line, character: offset - starts[line] };
}
function resolvePosition(doc, r) {
  if (r.find !== undefined) {
    let idx = -1;
    for (let n = 0; n <= (r.nth ?? 0); n++) {
      idx = doc.text.indexOf(r.find, idx + 1);
      if (idx < 0) throw new Error(`"${r.find}" (nth ${r.nth ?? 0}) not found in ${doc.id}`);
    }
    return positionAt(doc.text, idx + (r.offset ?? 0));
  }
  return { line: r.line, character: r.character };
}

// Snippet -> plain text: placeholders become their default text, tab stops vanish, choices give
// their first option, escapes are undone.
function snippetToText(s) {
  let i = 0;
  function parse(stopAtBrace) {
    let out = '';
    while (i < s.length) {
      const c = s[i];
      if (c === '\\' && i + 1 < s.length && '$}\\,|'.includes(s[i + 1])) {
        out += s[i + 1];
        i += 2;
      } else if (c === '}' && stopAtBrace) {
        i++;
        return out;
      } else if (c === '$') {
        const m = /^\$(\d+|[A-Za-z_][A-Za-z0-9_]*)/.exec(s.slice(i));
        if (m) {
          i += m[0].length;
          continue;
        }
        if (s[i + 1] === '{') {
          const h = /^\$\{(\d+|[A-Za-z_][A-Za-z0-9_]*)/.exec(s.slice(i));
          if (!h) {
            out += c;
            i++;
            continue;
          }
          i += h[0].length;
          if (s[i] === '}') {
            i++;
          } else if (s[i] === ':') {
            i++;
            out += parse(true);
          } else if (s[i] === '|') {
            const end = s.indexOf('|}', i + 1);
            out += s.slice(i + 1, end).split(',')[0];
            i = end + 2;
          } else {
            out += parse(true);
          }
        } else {
          out += c;
          i++;
        }
      } else {
        out += c;
        i++;
      }
    }
    return out;
  }
  return parse(false);
}

function applyCompletion(doc, item, cursor) {
  const snippet = item.insertTextFormat === 2;
  let range;
  let newText;
  if (item.textEdit) {
    range = item.textEdit.range ?? item.textEdit.insert;
    newText = item.textEdit.newText;
  } else {
    newText = item.insertText ?? item.label;
    // no range: VS Code replaces the word before the cursor
    const off = offsetAt(doc.text, cursor);
    let start = off;
    while (start > 0 && /[\w-]/.test(doc.text[start - 1])) start--;
    range = { start: positionAt(doc.text, start), end: cursor };
  }
  let plain = snippet ? snippetToText(newText) : newText;
  const startOff = offsetAt(doc.text, range.start);
  if (item.insertTextMode !== 1 && plain.includes('\n')) {
    // VS Code: following lines get the leading whitespace of the line the insertion starts on
    const ls = doc.text.lastIndexOf('\n', startOff - 1) + 1;
    const lead = /^[ \t]*/.exec(doc.text.slice(ls, startOff))[0];
    plain = plain.replace(/\n/g, '\n' + lead);
  }
  const edits = [{ start: startOff, end: offsetAt(doc.text, range.end), text: plain }];
  for (const e of item.additionalTextEdits ?? []) {
    edits.push({ start: offsetAt(doc.text, e.range.start), end: offsetAt(doc.text, e.range.end), text: e.newText });
  }
  edits.sort((a, b) => b.start - a.start);
  let text = doc.text;
  for (const e of edits) text = text.slice(0, e.start) + e.text + text.slice(e.end);
  return text;
}

function summarizeItem(it) {
  const o = { label: it.label };
  if (it.kind !== undefined) o.kind = it.kind;
  if (it.insertText !== undefined) o.insertText = it.insertText;
  if (it.textEdit) {
    o.textEdit = { newText: it.textEdit.newText, range: it.textEdit.range ?? { insert: it.textEdit.insert, replace: it.textEdit.replace } };
  }
  if (it.insertTextFormat !== undefined) o.insertTextFormat = it.insertTextFormat;
  if (it.insertTextMode !== undefined) o.insertTextMode = it.insertTextMode;
  if (it.filterText !== undefined) o.filterText = it.filterText;
  if (it.sortText !== undefined) o.sortText = it.sortText;
  if (it.detail !== undefined) o.detail = it.detail;
  if (it.documentation !== undefined) o.documentation = typeof it.documentation === 'string' ? it.documentation : it.documentation.value;
  if (it.additionalTextEdits) o.additionalTextEdits = it.additionalTextEdits;
  if (it.command) o.command = it.command.command;
  return o;
}

function summarizeDiagnostics(list) {
  return (list ?? []).map((d) => ({
    range: `${d.range.start.line}:${d.range.start.character}-${d.range.end.line}:${d.range.end.character}`,
    severity: d.severity,
    message: d.message,
    source: d.source,
    code: d.code,
  }));
}

// ---------------------------------------------------------------- session
const results = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForDiagnostics() {
  const uris = [...docs.values()].map((d) => d.uri);
  for (;;) {
    if (exited) throw new Error(`server exited (${exited.code ?? exited.signal})`);
    const all = uris.every((u) => published.has(u));
    if (all && Date.now() - lastPublish >= quietMs) return;
    await sleep(100);
  }
}

let finished = false;
function finish(obj) {
  if (finished) return;
  finished = true;
  clearTimeout(overall);
  const stderr = Buffer.concat(stderrChunks).toString('utf8');
  if (stderr.trim()) obj.stderr = stderr.slice(-4000);
  if (spec.log) obj.log = log;
  process.stdout.write(JSON.stringify(obj, null, 2) + '\n');
  const done = () => process.exit(obj.ok === false ? 1 : 0);
  if (exited) return done();
  // polite shutdown, then kill this child (and only it)
  request('shutdown', null, 2000)
    .then(() => notify('exit', null))
    .catch(() => {})
    .finally(() => {
      setTimeout(() => {
        if (!exited) child.kill();
        done();
      }, 300);
    });
}

async function main() {
  const rootUri = pathToFileURL(rootPath).href;
  await request('initialize', {
    processId: process.pid,
    clientInfo: { name: 'lgmsnet-lsp-driver', version: '1' },
    rootUri,
    rootPath,
    workspaceFolders: [{ uri: rootUri, name: path.basename(rootPath) }],
    capabilities: {
      workspace: { configuration: true, workspaceFolders: true, didChangeConfiguration: { dynamicRegistration: false } },
      textDocument: {
        synchronization: { dynamicRegistration: false, didSave: true },
        publishDiagnostics: { relatedInformation: true, versionSupport: true },
        completion: {
          completionItem: {
            snippetSupport: true,
            documentationFormat: ['markdown', 'plaintext'],
            insertReplaceSupport: false,
            insertTextModeSupport: { valueSet: [1, 2] },
            labelDetailsSupport: true,
          },
          contextSupport: true,
        },
        hover: { contentFormat: ['markdown', 'plaintext'] },
      },
    },
    initializationOptions: {},
  });
  notify('initialized', {});
  notify('workspace/didChangeConfiguration', { settings });
  for (const d of docs.values()) {
    notify('textDocument/didOpen', { textDocument: { uri: d.uri, languageId: 'yaml', version: d.version, text: d.text } });
  }
  if (docs.size) await waitForDiagnostics();

  for (const r of spec.requests ?? []) {
    const doc = docs.get(r.doc);
    const out = { id: r.id, type: r.type, doc: r.doc };
    try {
      if (!doc) throw new Error(`unknown document ${r.doc}`);
      if (r.type === 'diagnostics') {
        out.diagnostics = summarizeDiagnostics(published.get(doc.uri)?.diagnostics);
      } else if (r.type === 'completion') {
        const position = resolvePosition(doc, r);
        out.position = position;
        const res = await request('textDocument/completion', {
          textDocument: { uri: doc.uri },
          position,
          context: { triggerKind: 1 },
        });
        const items = Array.isArray(res) ? res : res?.items ?? [];
        out.count = items.length;
        out.items = items.filter((it) => !r.labels || r.labels.includes(it.label)).map(summarizeItem);
        if (r.raw) out.raw = res;
        if (r.applyAll) out.appliedAll = items.map((it) => ({ label: it.label, kind: it.kind, text: applyCompletion(doc, it, position) }));
        if (r.apply !== undefined) {
          const item = items.find((it) => it.label === r.apply && (r.applyKind === undefined || it.kind === r.applyKind));
          if (!item) out.applied = { label: r.apply, error: 'no item with this label' };
          else out.applied = { label: r.apply, kind: item.kind, text: applyCompletion(doc, item, position) };
        }
      } else if (r.type === 'hover') {
        const position = resolvePosition(doc, r);
        out.position = position;
        const res = await request('textDocument/hover', { textDocument: { uri: doc.uri }, position });
        if (!res) out.hover = null;
        else {
          const c = res.contents;
          out.hover = typeof c === 'string' ? c : Array.isArray(c) ? c.map((x) => (typeof x === 'string' ? x : x.value)).join('\n---\n') : c.value;
        }
        if (r.raw) out.raw = res;
      } else {
        throw new Error(`unknown request type ${r.type}`);
      }
    } catch (e) {
      out.error = e.message;
    }
    results.push(out);
  }
  finish({ ok: true, server: serverPath, results });
}

main().catch((e) => finish({ ok: false, error: e.message, partial: results }));
