'use strict';
// The VS Code client of `lgmsnet lsp`: a thin vscode-languageclient wrapper.
//  - Architecture YAML files get the language id `lgmsnet-yaml` (src/selector.js says which; VS Code cannot pick a
//    language by a *.yaml file's first line, because a registered file extension always wins over `firstLine`), so
//    the Red Hat YAML extension, which serves only its own language ids (yaml, dockercompose, ...), never sees them:
//    each error is reported once, by the compiler (diagnostic source "lgmsnet"). Other YAML stays `yaml`.
//  - The server starts with the first architecture file (not with every YAML file) and is resolved by src/server.js.
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');
const { classify } = require('./selector');
const { nodeFileSystem } = require('./files');
const { resolveServer } = require('./server');

const LANGUAGE = 'lgmsnet-yaml';
const DOCUMENT_SELECTOR = [{ scheme: 'file', language: LANGUAGE }];

let client;
let output;
// One watcher for the extension's life (a restarted client reuses it).
let projectFiles;
// The last "server not found" error, shown once (not on every architecture file) until the settings change.
let shownError;

function settings() {
  const configuration = vscode.workspace.getConfiguration('lgmsnet');
  return {
    serverPath: configuration.get('server.path', ''),
    serverArgs: configuration.get('server.args', ['lsp']),
    detect: configuration.get('detectArchitectures', true),
  };
}

// Files given the lgmsnet-yaml language in this session: one the user turns back to YAML stays YAML.
const adopted = new Set();

/** Gives an opened YAML file the lgmsnet-yaml language when it is an architecture. */
async function adopt(document) {
  if (document.languageId !== 'yaml' || document.uri.scheme !== 'file' || !settings().detect) return;
  if (adopted.has(document.uri.toString())) return;
  const verdict = classify(document.uri.fsPath, document.getText());
  output.info(`${document.uri.fsPath}: ${verdict.architecture ? 'architecture' : 'not an architecture'} (${verdict.reason})`);
  if (!verdict.architecture) return;
  // Without a server (its error shown once) the file stays YAML, where the Red Hat extension's schema checks still help.
  ensureStarted();
  if (!client) return;
  adopted.add(document.uri.toString());
  await vscode.languages.setTextDocumentLanguage(document, LANGUAGE);
}

/** The language client for the configured server, or undefined (with an error shown) when there is none. */
function createClient() {
  const server = resolveServer({
    ...settings(),
    workspaceFolders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
    env: process.env,
    platform: process.platform,
    fileSystem: nodeFileSystem,
  });
  if ('error' in server) {
    output.error(server.error);
    if (shownError !== server.error) void vscode.window.showErrorMessage(server.error);
    shownError = server.error;
    return undefined;
  }
  output.info(`starting the language server: ${server.how}`);
  const executable = { command: server.command, args: server.args, options: server.cwd ? { cwd: server.cwd } : {} };
  return new LanguageClient('lgmsnet', 'LGMSNet language server', { run: executable, debug: executable }, {
    documentSelector: DOCUMENT_SELECTOR,
    outputChannel: output,
    // A user block's C# file or the project file changed: the server re-reads the project's blocks.
    synchronize: { fileEvents: projectFiles },
  });
}

/** Starts the server once an architecture file is open. */
function ensureStarted() {
  if (client) return;
  client = createClient();
  client?.start().catch((error) => {
    output.error(`the language server did not start: ${error?.message ?? error}`);
    void vscode.window.showErrorMessage(`LGMSNet: the language server did not start (${error?.message ?? error}); see the output channel "LGMSNet".`);
  });
}

async function stop() {
  const running = client;
  client = undefined;
  if (running) await running.stop().catch(() => undefined);
}

function onOpen(document) {
  if (document.languageId === LANGUAGE && document.uri.scheme === 'file') ensureStarted();
  else void adopt(document);
}

/** (Re)starts the server and looks at every open file again: a server installed later takes the files left YAML. */
async function restart() {
  shownError = undefined;
  await stop();
  for (const document of vscode.workspace.textDocuments) onOpen(document);
}

/** @param {import('vscode').ExtensionContext} context */
function activate(context) {
  // A log channel: vscode-languageclient writes to it with info/warn/error (a plain channel has none of those).
  output = vscode.window.createOutputChannel('LGMSNet', { log: true });
  projectFiles = vscode.workspace.createFileSystemWatcher('**/*.{cs,csproj}');
  context.subscriptions.push(
    output,
    projectFiles,
    vscode.workspace.onDidOpenTextDocument(onOpen),
    // A new file gets its modeline and is saved: it becomes an architecture then.
    vscode.workspace.onDidSaveTextDocument((document) => void adopt(document)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('lgmsnet.server') || event.affectsConfiguration('lgmsnet.detectArchitectures')) void restart();
    }),
    vscode.commands.registerCommand('lgmsnet.restartServer', restart),
    { dispose: () => void stop() },
  );
  void restart();
  return {
    /** The running language client (undefined until an architecture file is opened). */
    get client() { return client; },
    /** The rule that makes a YAML file an architecture (src/selector.js). */
    classify,
    documentSelector: DOCUMENT_SELECTOR,
  };
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
