'use strict';
// The bundled dist/extension.js (what the .vsix ships) loaded under Node with a minimal stand-in for the `vscode`
// module. This is NOT VS Code: it checks the module's shape, that activate() gives architecture YAML files the
// lgmsnet-yaml language and leaves other YAML alone, and that the bundled vscode-languageclient spawns the resolved
// server command and opens only architecture documents with it. The stand-in's `languages.match` compares language and
// scheme only (VS Code's own matching, rendering, the Red Hat extension's behaviour are not exercised here).
const test = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('child_process');
const { EventEmitter } = require('events');
const { PassThrough } = require('stream');
const fs = require('fs');
const os = require('os');
const path = require('path');
const Module = require('module');

const repo = path.resolve(__dirname, '..', '..', '..');
const bundle = path.resolve(__dirname, '..', 'dist', 'extension.js');

/** Any member the client library touches and this stand-in does not define: a callable, constructible no-op. */
function anything(name) {
  const members = new Map();
  return new Proxy(function () { return anything(`${name}()`); }, {
    get(target, key) {
      if (key === 'then') return undefined;
      if (key === Symbol.iterator) return function* () {};
      if (key === Symbol.toPrimitive) return () => name;
      if (key === 'dispose') return () => {};
      if (key in target) return target[key];
      if (!members.has(key)) members.set(key, anything(`${name}.${String(key)}`));
      return members.get(key);
    },
    construct() { return anything(`new ${name}`); },
  });
}

class Disposable {
  constructor(callback) { this.callback = callback; }
  static from(...items) { return new Disposable(() => items.forEach((i) => i?.dispose?.())); }
  dispose() { this.callback?.(); }
}
class Emitter {
  constructor() {
    this.listeners = [];
    this.event = (listener) => { this.listeners.push(listener); return new Disposable(() => { this.listeners = this.listeners.filter((l) => l !== listener); }); };
  }
  fire(value) { this.listeners.forEach((l) => l(value)); }
  dispose() { this.listeners = []; }
}
const fileUri = (file) => ({ scheme: 'file', fsPath: file, path: file, toString: () => `file://${file}` });

function fakeVscode({ settings, documents, workspaceFolder }) {
  const opened = new Emitter();
  const calls = { setLanguage: [], errors: [], commands: [] };
  const document = (file, languageId) => ({
    uri: fileUri(file), fileName: file, languageId, version: 1, isClosed: false,
    getText: () => fs.readFileSync(file, 'utf8'),
  });
  const docs = documents.map(([file, languageId]) => document(file, languageId));
  const api = {
    version: '1.91.0',
    Disposable,
    EventEmitter: Emitter,
    Uri: { file: fileUri, parse: (s) => fileUri(s.replace(/^file:\/\//, '')) },
    workspace: {
      textDocuments: docs,
      workspaceFolders: [{ uri: fileUri(workspaceFolder), name: 'ws', index: 0 }],
      getConfiguration: (section) => ({
        get: (key, fallback) => (`${section}.${key}` in settings ? settings[`${section}.${key}`] : fallback),
        has: () => false,
        inspect: () => undefined,
      }),
      getWorkspaceFolder: () => undefined,
      onDidOpenTextDocument: opened.event,
      onDidCloseTextDocument: new Emitter().event,
      onDidChangeTextDocument: new Emitter().event,
      onDidSaveTextDocument: new Emitter().event,
      onWillSaveTextDocument: new Emitter().event,
      onDidChangeConfiguration: new Emitter().event,
      onDidChangeWorkspaceFolders: new Emitter().event,
      createFileSystemWatcher: () => ({ onDidCreate: new Emitter().event, onDidChange: new Emitter().event, onDidDelete: new Emitter().event, dispose() {} }),
    },
    languages: {
      setTextDocumentLanguage: async (doc, languageId) => {
        calls.setLanguage.push([doc.uri.fsPath, languageId]);
        // As VS Code does: the document is closed and opened again with the new language.
        const changed = document(doc.uri.fsPath, languageId);
        docs.splice(docs.indexOf(doc), 1, changed);
        opened.fire(changed);
        return changed;
      },
      match: (selector, doc) => ([].concat(selector).some((f) => (f.language === undefined || f.language === doc.languageId) && (f.scheme === undefined || f.scheme === doc.uri.scheme)) ? 10 : 0),
      createDiagnosticCollection: () => ({ set() {}, delete() {}, clear() {}, dispose() {} }),
    },
    window: {
      // VS Code gives a LogOutputChannel (info, warn, error, ...) only to createOutputChannel(name, { log: true }).
      createOutputChannel: (name, options) => {
        const channel = { name, lines: [], append(t) { this.lines.push(t); }, appendLine(t) { this.lines.push(t); }, show() {}, hide() {}, clear() {}, dispose() {} };
        if (options?.log !== true) return channel;
        const log = (level) => function (message, ...rest) { this.lines.push(`[${level}] ${message}${rest.length ? ' ' + rest.join(' ') : ''}`); };
        return Object.assign(channel, { logLevel: 2, onDidChangeLogLevel: new Emitter().event, trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') });
      },
      showErrorMessage: async (message) => { calls.errors.push(message); },
      showWarningMessage: async () => undefined,
      showInformationMessage: async () => undefined,
      activeTextEditor: undefined,
      visibleTextEditors: [],
      onDidChangeActiveTextEditor: new Emitter().event,
      onDidChangeVisibleTextEditors: new Emitter().event,
      tabGroups: { all: [], onDidChangeTabs: new Emitter().event, onDidChangeTabGroups: new Emitter().event },
    },
    commands: {
      registerCommand: (id) => { calls.commands.push(id); return new Disposable(); },
      executeCommand: async () => undefined,
    },
  };
  const orAnything = (object, name) => new Proxy(object, { get: (target, key) => (key in target ? target[key] : anything(`${name}.${String(key)}`)) });
  for (const namespace of ['workspace', 'languages', 'window', 'commands']) api[namespace] = orAnything(api[namespace], `vscode.${namespace}`);
  const stub = orAnything(api, 'vscode');
  return { stub, calls };
}

/** A language server stand-in on the spawned process's pipes: answers initialize and shutdown, records the rest. */
function fakeServerProcess(received) {
  const child = new EventEmitter();
  child.pid = 4242;
  child.stdin = new PassThrough();
  child.stdout = new PassThrough();
  child.stderr = new PassThrough();
  child.kill = () => { child.emit('exit', 0, null); return true; };
  let buffer = Buffer.alloc(0);
  const send = (message) => {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
    child.stdout.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]));
  };
  child.stdin.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, end).toString('ascii'))[1]);
      if (buffer.length < end + 4 + length) return;
      const message = JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString('utf8'));
      buffer = buffer.subarray(end + 4 + length);
      received.push(message);
      if (message.method === 'initialize') send({ id: message.id, result: { capabilities: { textDocumentSync: 1 } } });
      else if (message.method === 'shutdown') send({ id: message.id, result: null });
      else if (message.method === 'exit') setImmediate(() => child.emit('exit', 0, null));
    }
  });
  return child;
}

function loadExtension(stub) {
  const originalLoad = Module._load;
  Module._load = function (request, ...rest) {
    return request === 'vscode' ? stub : originalLoad.call(this, request, ...rest);
  };
  try {
    delete require.cache[bundle];
    return require(bundle);
  } finally {
    Module._load = originalLoad;
  }
}

const waitFor = async (condition, what) => {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
};

test('dist/extension.js is built (npm test bundles it first)', () => {
  assert.ok(fs.existsSync(bundle), `${bundle} is missing: run npm run bundle`);
  assert.doesNotMatch(fs.readFileSync(bundle, 'utf8'), /require\("vscode-languageclient/, 'vscode-languageclient must be bundled, not required at run time');
});

test('activate: architectures become lgmsnet-yaml, other YAML stays yaml; the client spawns the server and opens only architectures', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lgms-vsc-bundle-'));
  t.after(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const dll = path.join(scratch, 'LGMSNet.LanguageServer.dll');
  fs.writeFileSync(dll, '');
  const workflow = path.join(scratch, '.github', 'workflows', 'ci.yaml');
  fs.mkdirSync(path.dirname(workflow), { recursive: true });
  fs.writeFileSync(workflow, 'on: push\njobs: {}\n');
  const architecture = path.join(repo, 'architectures', 'lgmsnet.yaml');
  const sweep = path.join(repo, 'sweeps', 'quick.sweep.yaml');

  const { stub, calls } = fakeVscode({
    settings: { 'lgmsnet.server.path': dll, 'lgmsnet.server.args': ['lsp'] },
    documents: [[workflow, 'yaml'], [sweep, 'yaml'], [architecture, 'yaml']],
    workspaceFolder: repo,
  });
  const spawned = [];
  const received = [];
  const originalSpawn = childProcess.spawn;
  childProcess.spawn = (command, args, options) => {
    spawned.push({ command, args, cwd: options?.cwd });
    return fakeServerProcess(received);
  };
  t.after(() => { childProcess.spawn = originalSpawn; });

  const extension = loadExtension(stub);
  assert.equal(typeof extension.activate, 'function');
  assert.equal(typeof extension.deactivate, 'function');
  const context = { subscriptions: [], extensionPath: path.resolve(__dirname, '..') };
  const api = extension.activate(context);

  assert.deepEqual(calls.commands, ['lgmsnet.restartServer']);
  await waitFor(() => api.client !== undefined && received.some((m) => m.method === 'textDocument/didOpen'), () => 'the didOpen of the architecture: ' + JSON.stringify({ spawned, received: received.map((m) => m.method), set: calls.setLanguage, errors: calls.errors, output: api.client?.outputChannel?.lines }));
  assert.deepEqual(calls.setLanguage, [[architecture, 'lgmsnet-yaml']], 'only the architecture changes language');
  assert.deepEqual(calls.errors, []);
  assert.deepEqual(spawned, [{ command: 'dotnet', args: [dll, 'lsp'], cwd: repo }]);
  assert.deepEqual(api.client.clientOptions.documentSelector, [{ scheme: 'file', language: 'lgmsnet-yaml' }]);
  assert.deepEqual(api.documentSelector, [{ scheme: 'file', language: 'lgmsnet-yaml' }]);

  const initialize = received.find((m) => m.method === 'initialize');
  assert.ok(initialize, 'initialize was sent');
  const opens = received.filter((m) => m.method === 'textDocument/didOpen').map((m) => [m.params.textDocument.uri, m.params.textDocument.languageId]);
  assert.deepEqual(opens, [[`file://${architecture}`, 'lgmsnet-yaml']]);

  await extension.deactivate();
  assert.ok(received.some((m) => m.method === 'shutdown'), 'deactivate shuts the server down');
  for (const d of context.subscriptions) d.dispose?.();
});

test('activate with only non-architecture YAML open: no server is started and nothing changes language', async (t) => {
  const { stub, calls } = fakeVscode({
    settings: {},
    documents: [[path.join(repo, 'sweeps', 'paper-ablations.sweep.yaml'), 'yaml']],
    workspaceFolder: repo,
  });
  const originalSpawn = childProcess.spawn;
  let spawns = 0;
  childProcess.spawn = (...args) => { spawns++; return originalSpawn(...args); };
  t.after(() => { childProcess.spawn = originalSpawn; });
  const extension = loadExtension(stub);
  const context = { subscriptions: [] };
  const api = extension.activate(context);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(api.client, undefined);
  assert.equal(spawns, 0);
  assert.deepEqual(calls.setLanguage, []);
  assert.deepEqual(calls.errors, []);
  assert.equal(api.classify(path.join(repo, 'architectures', 'unet.yaml'), fs.readFileSync(path.join(repo, 'architectures', 'unet.yaml'), 'utf8')).architecture, true);
  await extension.deactivate();
});

test('an architecture opened with no server installed: one error that says how to install it', async (t) => {
  const { stub, calls } = fakeVscode({
    settings: {},
    documents: [[path.join(repo, 'architectures', 'unet.yaml'), 'yaml'], [path.join(repo, 'architectures', 'unet-lms.yaml'), 'yaml']],
    workspaceFolder: path.join(os.tmpdir(), 'lgms-vsc-empty-workspace'),
  });
  const savedPath = process.env.PATH;
  process.env.PATH = '';
  t.after(() => { process.env.PATH = savedPath; });
  const extension = loadExtension(stub);
  const api = extension.activate({ subscriptions: [] });
  await waitFor(() => calls.setLanguage.length === 2, 'both files to change language');
  assert.equal(api.client, undefined);
  assert.equal(calls.errors.length, 1, 'shown once, not per file');
  assert.match(calls.errors[0], /dotnet tool install -g LGMSNet\.LanguageServer/);
  await extension.deactivate();
});
