'use strict';
// How the server command is chosen (src/server.js), on real folders made for each case.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { resolveServer } = require('../src/server');

const { nodeFileSystem: fileSystem } = require('../src/files');

function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lgms-vsc-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}
const manifest = (commands) => JSON.stringify({ version: 1, isRoot: true, tools: { 'lgmsnet.languageserver': { version: '0.2.0', commands } } });
const resolve = (overrides) => resolveServer({ workspaceFolders: [], env: { PATH: '' }, platform: 'linux', fileSystem, ...overrides });

test('default: lgmsnet lsp from PATH', (t) => {
  const bin = scratch(t);
  const exe = write(path.join(bin, 'lgmsnet'), '#!/bin/sh\n');
  const result = resolve({ env: { PATH: `/nonexistent:${bin}` } });
  assert.deepEqual({ command: result.command, args: result.args, cwd: result.cwd }, { command: exe, args: ['lsp'], cwd: undefined });
});

test('a local tool manifest with the lgmsnet command wins over PATH: dotnet tool run lgmsnet lsp in its folder', (t) => {
  const root = scratch(t);
  write(path.join(root, '.config', 'dotnet-tools.json'), manifest(['lgmsnet']));
  const bin = scratch(t);
  write(path.join(bin, 'lgmsnet'), '#!/bin/sh\n');
  const result = resolve({ workspaceFolders: [path.join(root, 'src', 'Nets')], env: { PATH: bin } });
  assert.deepEqual({ command: result.command, args: result.args, cwd: result.cwd }, { command: 'dotnet', args: ['tool', 'run', 'lgmsnet', 'lsp'], cwd: root });
});

test('a root manifest without the lgmsnet command stops the search (as dotnet does); then PATH', (t) => {
  const root = scratch(t);
  write(path.join(root, '.config', 'dotnet-tools.json'), manifest(['lgmsnet']));
  write(path.join(root, 'inner', 'dotnet-tools.json'), manifest(['dotnet-ef']));
  const bin = scratch(t);
  const exe = write(path.join(bin, 'lgmsnet'), '#!/bin/sh\n');
  assert.equal(resolve({ workspaceFolders: [path.join(root, 'inner')], env: { PATH: bin } }).command, exe);
});

test('lgmsnet.server.path: a .dll runs under dotnet, with lgmsnet.server.args; relative to the workspace', (t) => {
  const root = scratch(t);
  const dll = write(path.join(root, 'server', 'LGMSNet.LanguageServer.dll'), '');
  const bin = scratch(t);
  write(path.join(bin, 'lgmsnet'), '#!/bin/sh\n');
  const result = resolve({ serverPath: 'server/LGMSNet.LanguageServer.dll', serverArgs: ['lsp', '--log', 'verbose'], workspaceFolders: [root], env: { PATH: bin } });
  assert.deepEqual({ command: result.command, args: result.args }, { command: 'dotnet', args: [dll, 'lsp', '--log', 'verbose'] });
  const exe = write(path.join(root, 'lgmsnet-dev'), '');
  assert.deepEqual(resolve({ serverPath: exe }).args, ['lsp']);
  assert.equal(resolve({ serverPath: exe }).command, exe);
});

test('a configured path that does not exist is an error, not a fallback', (t) => {
  const bin = scratch(t);
  write(path.join(bin, 'lgmsnet'), '#!/bin/sh\n');
  const result = resolve({ serverPath: '/nonexistent/LGMSNet.LanguageServer.dll', env: { PATH: bin } });
  assert.equal(result.error, 'lgmsnet.server.path: no such file: /nonexistent/LGMSNet.LanguageServer.dll');
});

test('nothing found: one error that says how to install the server', () => {
  const result = resolve({ workspaceFolders: [path.join(os.tmpdir(), 'lgms-vsc-none')] });
  assert.match(result.error, /^The LGMSNet language server was not found: .*dotnet tool install -g LGMSNet\.LanguageServer.*lgmsnet\.server\.path\.$/);
});

test('Windows: PATHEXT and ; separators', (t) => {
  const bin = scratch(t);
  const exe = write(path.join(bin, 'lgmsnet.exe'), '');
  assert.equal(resolve({ platform: 'win32', env: { Path: `C:\\nothing;${bin}`, PATHEXT: '.COM;.EXE' } }).command, exe);
});
