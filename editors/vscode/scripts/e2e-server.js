#!/usr/bin/env node
'use strict';
// End to end with the real server, through the protocol library vscode-languageclient itself uses
// (vscode-languageserver-protocol over vscode-jsonrpc's StreamMessageReader/Writer), without VS Code:
//   1. resolve the server as the extension does (src/server.js; --server-path is the lgmsnet.server.path setting),
//   2. initialize it, open architectures/lgmsnet.yaml (which src/selector.js classifies as an architecture) with a
//      misspelt block (`lmss`), and wait for its diagnostics: the compiler's LGMS003 at the misspelling, source "lgmsnet",
//      published with the document's version,
//   3. change it back to the file's text (version 2) and wait for that version's diagnostics: no errors,
//   4. shut down and exit;
//   5. then the same misspelt file through the bundled extension (dist/extension.js, with vscode-languageclient inside)
//      loaded with test/vscode-stub.js — a stand-in for the vscode module, NOT VS Code — beside a workflow YAML: the
//      extension retypes only the architecture, starts the server and the LGMS003 error lands in its diagnostic collection.
// Usage: node scripts/e2e-server.js [--server-path <LGMSNet.LanguageServer.dll | lgmsnet>]   (exit 0 when all hold)
// Nothing is written to disk. Not part of `npm test`: the server is built from another part of the repository
// (tests/LGMSNet.Compiler.Tests/VsCodeExtensionTests runs it from `dotnet test` against the server the solution builds).
const cp = require('child_process');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const rpc = require('vscode-languageserver-protocol/node');
const { resolveServer } = require('../src/server');
const { classify } = require('../src/selector');
const { nodeFileSystem } = require('../src/files');
const { fakeVscode, loadExtension } = require('../test/vscode-stub');

const repo = path.resolve(__dirname, '..', '..', '..');
const argv = process.argv.slice(2);
const serverPath = argv[0] === '--server-path' ? argv[1] : undefined;

function fail(message) {
  console.error(`e2e: FAIL: ${message}`);
  process.exit(1);
}

const server = resolveServer({
  serverPath,
  serverArgs: ['lsp'],
  workspaceFolders: [repo],
  env: process.env,
  platform: process.platform,
  fileSystem: nodeFileSystem,
});
if ('error' in server) fail(server.error);

const file = path.join(repo, 'architectures', 'lgmsnet.yaml');
const good = fs.readFileSync(file, 'utf8');
const bad = good.replace('  - lms: {', '  - lmss: {');
if (bad === good) fail('architectures/lgmsnet.yaml has no "  - lms: {" line to misspell');
if (!classify(file, bad).architecture) fail('the extension would not send this file to the server');
const badLines = bad.split('\n');
const line = badLines.findIndex((l) => l.includes('lmss'));
const character = badLines[line].indexOf('lmss');
const uri = pathToFileURL(file).href;

const child = cp.spawn(server.command, server.args, { cwd: server.cwd ?? repo, stdio: ['pipe', 'pipe', 'pipe'] });
let stderr = '';
child.stderr.on('data', (b) => { stderr += b.toString('utf8'); });
child.on('exit', (code) => { if (!done) fail(`the server exited early (code ${code}); stderr:\n${stderr}`); });
let done = false;
const timer = setTimeout(() => fail(`timed out; stderr:\n${stderr}`), 60000);

const connection = rpc.createProtocolConnection(new rpc.StreamMessageReader(child.stdout), new rpc.StreamMessageWriter(child.stdin));
const published = [];
const waiters = [];
connection.onNotification(rpc.PublishDiagnosticsNotification.type, (params) => {
  published.push(params);
  for (const w of [...waiters]) if (w.test(params)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(params); }
});
const diagnosticsFor = (version) => new Promise((resolve) => {
  const test = (p) => p.uri === uri && p.version === version;
  const already = published.find(test);
  if (already) resolve(already); else waiters.push({ test, resolve });
});
connection.listen();

(async () => {
  const started = Date.now();
  const init = await connection.sendRequest(rpc.InitializeRequest.type, {
    processId: process.pid,
    rootUri: pathToFileURL(repo).href,
    workspaceFolders: [{ uri: pathToFileURL(repo).href, name: 'repo' }],
    capabilities: { textDocument: { publishDiagnostics: { versionSupport: true, codeDescriptionSupport: true, dataSupport: true } } },
  });
  await connection.sendNotification(rpc.InitializedNotification.type, {});
  const sync = init.capabilities.textDocumentSync;
  const syncKind = typeof sync === 'number' ? sync : sync?.change;

  await connection.sendNotification(rpc.DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'lgmsnet-yaml', version: 1, text: bad } });
  const first = await diagnosticsFor(1);
  const openedMs = Date.now() - started;
  const error = first.diagnostics.find((d) => d.code === 'LGMS003');
  if (!error) fail(`version 1: no LGMS003 among ${JSON.stringify(first.diagnostics)}`);
  if (error.source !== 'lgmsnet') fail(`source is ${error.source}, not lgmsnet`);
  if (!/unknown block 'lmss'/.test(error.message)) fail(`message: ${error.message}`);
  if (error.range.start.line !== line || error.range.start.character !== character) fail(`at ${JSON.stringify(error.range.start)}, expected line ${line} character ${character}`);
  if (error.severity !== 1) fail(`severity ${error.severity}, expected 1 (error)`);

  const change = syncKind === 2
    ? { range: { start: { line, character }, end: { line, character: character + 4 } }, text: 'lms' }
    : { text: good };
  await connection.sendNotification(rpc.DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 2 }, contentChanges: [change] });
  const second = await diagnosticsFor(2);
  const errors = second.diagnostics.filter((d) => d.severity === 1);
  if (errors.length > 0) fail(`version 2 (fixed) still has errors: ${JSON.stringify(errors)}`);

  await connection.sendRequest(rpc.ShutdownRequest.type);
  done = true;
  await connection.sendNotification(rpc.ExitNotification.type);

  const extension = await throughTheExtension();
  clearTimeout(timer);
  console.log(JSON.stringify({
    ok: true,
    server: server.how,
    textDocumentSync: syncKind,
    version1: { code: error.code, source: error.source, message: error.message, start: error.range.start, msToFirstDiagnostics: openedMs },
    version2: { diagnostics: second.diagnostics.length, errors: 0 },
    extension,
  }, null, 2));
  setTimeout(() => process.exit(0), 200);
})().catch((e) => fail(`${e?.stack ?? e}\nstderr:\n${stderr}`));

async function throughTheExtension() {
  const workflow = path.join(repo, '.github', 'workflows', 'ci.yaml');
  const { stub, calls } = fakeVscode({
    settings: serverPath ? { 'lgmsnet.server.path': serverPath } : {},
    documents: [[workflow, 'yaml', 'on: push\njobs: {}\n'], [file, 'yaml', bad]],
    workspaceFolder: repo,
  });
  const extension = loadExtension(stub);
  const api = extension.activate({ subscriptions: [] });
  const started = Date.now();
  while (!(calls.diagnostics.get(file) ?? []).some((d) => d.code === 'LGMS003')) {
    if (Date.now() - started > 30000) fail(`extension: no LGMS003 in its diagnostic collection; errors shown: ${JSON.stringify(calls.errors)}; output: ${JSON.stringify(api.client?.outputChannel?.lines)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = Date.now() - started;
  const d = calls.diagnostics.get(file).find((x) => x.code === 'LGMS003');
  if (d.range.start.line !== line || d.range.start.character !== character) fail(`extension: at ${JSON.stringify(d.range.start)}`);
  if (d.severity !== 0 || d.source !== 'lgmsnet') fail(`extension: severity ${d.severity} (vscode Error is 0), source ${d.source}`);
  if (JSON.stringify(calls.setLanguage) !== JSON.stringify([[file, 'lgmsnet-yaml']])) fail(`extension: retyped ${JSON.stringify(calls.setLanguage)}`);
  if (calls.diagnostics.has(workflow)) fail('extension: the workflow got diagnostics from the lgmsnet server');
  await extension.deactivate();
  return { retyped: calls.setLanguage.map(([f, l]) => `${path.relative(repo, f)} -> ${l}`), code: d.code, source: d.source, message: d.message, start: d.range.start, msFromActivation: ms };
}
