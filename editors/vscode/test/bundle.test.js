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
const { fakeVscode, loadExtension, bundle } = require('./vscode-stub');

const repo = path.resolve(__dirname, '..', '..', '..');

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

  const { stub, calls, reopen } = fakeVscode({
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

  // The user turns the file back to YAML: it stays YAML (and the client closes it on the server).
  reopen(architecture, 'yaml');
  await waitFor(() => received.some((m) => m.method === 'textDocument/didClose'), 'the didClose of the architecture');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(calls.setLanguage, [[architecture, 'lgmsnet-yaml']], 'not retyped again');

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

test('architectures opened with no server installed: one error that says how to install it, and they stay YAML', async (t) => {
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
  await waitFor(() => calls.errors.length > 0, 'the error');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(api.client, undefined);
  assert.deepEqual(calls.setLanguage, [], 'left to the YAML extension and its schema');
  assert.equal(calls.errors.length, 1, 'shown once, not per file');
  assert.match(calls.errors[0], /dotnet tool install -g LGMSNet\.LanguageServer/);

  // The server is installed (lgmsnet on PATH) and the server restarted: both files are taken now.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'lgms-vsc-bin-'));
  t.after(() => fs.rmSync(bin, { recursive: true, force: true }));
  fs.writeFileSync(path.join(bin, 'lgmsnet'), '#!/bin/sh\n');
  process.env.PATH = bin;
  const spawned = [];
  const received = [];
  const originalSpawn = childProcess.spawn;
  childProcess.spawn = (command, args) => { spawned.push([command, args]); return fakeServerProcess(received); };
  t.after(() => { childProcess.spawn = originalSpawn; });
  await calls.commandCallbacks.get('lgmsnet.restartServer')();
  await waitFor(() => received.filter((m) => m.method === 'textDocument/didOpen').length === 2, 'both files opened on the server');
  assert.deepEqual(spawned, [[path.join(bin, 'lgmsnet'), ['lsp']]]);
  assert.deepEqual(calls.setLanguage.map(([f]) => path.basename(f)), ['unet.yaml', 'unet-lms.yaml']);
  assert.equal(calls.errors.length, 1);
  await extension.deactivate();
});
