'use strict';
// A minimal stand-in for the `vscode` module, enough for dist/extension.js and the vscode-languageclient bundled in it
// to activate, start a server, open documents and take its diagnostics. NOT VS Code: `languages.match` compares language
// and scheme only, editors, rendering and other extensions do not exist. Used by test/bundle.test.js and
// scripts/e2e-server.js.
const fs = require('fs');
const path = require('path');
const Module = require('module');
const { pathToFileURL, fileURLToPath } = require('url');

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
const fileUri = (file) => ({ scheme: 'file', fsPath: file, path: file, toString: () => pathToFileURL(file).href });
class Position {
  constructor(line, character) { this.line = line; this.character = character; }
}
class Range {
  constructor(a, b, c, d) {
    [this.start, this.end] = typeof a === 'number' ? [new Position(a, b), new Position(c, d)] : [a, b];
  }
}
class Diagnostic {
  constructor(range, message, severity) { this.range = range; this.message = message; this.severity = severity; }
}
class CancellationTokenSource {
  constructor() {
    const cancelled = new Emitter();
    this.token = { isCancellationRequested: false, onCancellationRequested: cancelled.event };
    this.cancel = () => { this.token.isCancellationRequested = true; cancelled.fire(); };
  }
  dispose() {}
}

function fakeVscode({ settings, documents, workspaceFolder }) {
  const opened = new Emitter();
  const closed = new Emitter();
  // diagnostics: what the client put into its diagnostic collection, by file path.
  const calls = { setLanguage: [], errors: [], commands: [], commandCallbacks: new Map(), diagnostics: new Map() };
  const texts = new Map(documents.filter((d) => d[2] !== undefined).map(([file, , text]) => [file, text]));
  const document = (file, languageId) => ({
    uri: fileUri(file), fileName: file, languageId, version: 1, isClosed: false,
    getText: () => texts.get(file) ?? fs.readFileSync(file, 'utf8'),
  });
  const docs = documents.map(([file, languageId]) => document(file, languageId));
  const api = {
    version: '1.91.0',
    Disposable,
    EventEmitter: Emitter,
    Position,
    Range,
    Diagnostic,
    DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
    CancellationTokenSource,
    Uri: { file: fileUri, parse: (s) => (s.startsWith('file:') ? fileUri(fileURLToPath(s)) : { scheme: s.split(':')[0], toString: () => s }) },
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
      onDidCloseTextDocument: closed.event,
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
        closed.fire(doc);
        opened.fire(changed);
        return changed;
      },
      match: (selector, doc) => ([].concat(selector).some((f) => (f.language === undefined || f.language === doc.languageId) && (f.scheme === undefined || f.scheme === doc.uri.scheme)) ? 10 : 0),
      createDiagnosticCollection: () => ({
        set(uri, diagnostics) { calls.diagnostics.set(uri.fsPath, diagnostics); },
        delete(uri) { calls.diagnostics.delete(uri.fsPath); },
        clear() { calls.diagnostics.clear(); },
        dispose() {},
      }),
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
      registerCommand: (id, callback) => { calls.commands.push(id); calls.commandCallbacks.set(id, callback); return new Disposable(); },
      executeCommand: async () => undefined,
    },
  };
  const orAnything = (object, name) => new Proxy(object, { get: (target, key) => (key in target ? target[key] : anything(`${name}.${String(key)}`)) });
  for (const namespace of ['workspace', 'languages', 'window', 'commands']) api[namespace] = orAnything(api[namespace], `vscode.${namespace}`);
  const stub = orAnything(api, 'vscode');
  /** As VS Code does when the user picks another language for an open file: it is opened again with that language. */
  const reopen = (file, languageId) => {
    const index = docs.findIndex((d) => d.uri.fsPath === file);
    const changed = document(file, languageId);
    closed.fire(docs[index]);
    docs.splice(index, 1, changed);
    opened.fire(changed);
  };
  return { stub, calls, reopen };
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

module.exports = { fakeVscode, loadExtension, bundle };
