#!/usr/bin/env node
'use strict';
// Reads the packaged .vsix (a zip) and checks what VS Code will install: exactly the manifest, README, language
// configuration, grammar and the one bundled extension.js (no node_modules, no sources, no tests); the manifest's entry
// point, language, activation and identity; and that the packed extension.js is the bundle just built.
// Usage: node scripts/check-vsix.js [file.vsix]   (default: <name>-<version>.vsix from package.json). Exit 1 on a problem.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const vsix = path.resolve(process.argv[2] ?? path.join(root, `${pkg.name}-${pkg.version}.vsix`));

/** The entries of a zip file: name -> contents (stored or deflated). */
function readZip(file) {
  const data = fs.readFileSync(file);
  const end = data.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error(`${file} is not a zip file`);
  const count = data.readUInt16LE(end + 10);
  let offset = data.readUInt32LE(end + 16);
  const entries = new Map();
  for (let i = 0; i < count; i++) {
    if (data.readUInt32LE(offset) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const method = data.readUInt16LE(offset + 10);
    const compressed = data.readUInt32LE(offset + 20);
    const nameLength = data.readUInt16LE(offset + 28);
    const extraLength = data.readUInt16LE(offset + 30);
    const commentLength = data.readUInt16LE(offset + 32);
    const local = data.readUInt32LE(offset + 42);
    const name = data.subarray(offset + 46, offset + 46 + nameLength).toString('utf8');
    const start = local + 30 + data.readUInt16LE(local + 26) + data.readUInt16LE(local + 28);
    const raw = data.subarray(start, start + compressed);
    entries.set(name, method === 8 ? zlib.inflateRawSync(raw) : raw);
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function check() {
  const problems = [];
  if (!fs.existsSync(vsix)) return [`${vsix} does not exist: run npm run package`];
  const entries = readZip(vsix);
  const names = [...entries.keys()].sort();
  const expected = [
    '[Content_Types].xml',
    'extension.vsixmanifest',
    'extension/dist/extension.js',
    'extension/language-configuration.json',
    'extension/package.json',
    'extension/readme.md',
    'extension/syntaxes/lgmsnet-yaml.tmLanguage.json',
  ];
  if (JSON.stringify(names) !== JSON.stringify(expected)) problems.push(`files: ${names.join(', ')}; expected ${expected.join(', ')}`);
  const manifest = JSON.parse(entries.get('extension/package.json')?.toString('utf8') ?? '{}');
  if (manifest.main !== './dist/extension.js') problems.push(`main is ${manifest.main}`);
  if (JSON.stringify(manifest.activationEvents) !== JSON.stringify(['onLanguage:yaml'])) problems.push(`activationEvents: ${JSON.stringify(manifest.activationEvents)}`);
  if (!manifest.contributes?.languages?.some((l) => l.id === 'lgmsnet-yaml')) problems.push('no lgmsnet-yaml language contributed');
  if (manifest.contributes?.configurationDefaults?.['[lgmsnet-yaml]']?.['editor.tabSize'] !== 2) problems.push('no [lgmsnet-yaml] editor defaults');
  if (manifest.capabilities?.untrustedWorkspaces?.supported !== false) problems.push('must not run in untrusted workspaces (it starts the server the workspace names)');
  const bundle = entries.get('extension/dist/extension.js');
  const built = fs.readFileSync(path.join(root, 'dist', 'extension.js'));
  if (!bundle || !bundle.equals(built)) problems.push('extension/dist/extension.js is not the bundle in dist/');
  else if (/require\(["']vscode-languageclient/.test(bundle.toString('utf8'))) problems.push('vscode-languageclient is required at run time instead of bundled');
  const xml = entries.get('extension.vsixmanifest')?.toString('utf8') ?? '';
  if (!xml.includes(`Id="${pkg.name}"`) || !xml.includes(`Publisher="${pkg.publisher}"`) || !xml.includes(`Version="${pkg.version}"`)) problems.push('the vsixmanifest identity is not the package\'s');
  const size = fs.statSync(vsix).size;
  if (size > 1024 * 1024) problems.push(`${size} bytes: larger than 1 MiB (node_modules packed?)`);
  return problems;
}

const problems = check();
if (problems.length > 0) {
  for (const p of problems) console.error(`${path.basename(vsix)}: ${p}`);
  process.exit(1);
}
console.log(`${path.basename(vsix)}: ${fs.statSync(vsix).size} bytes; ${pkg.publisher}.${pkg.name} ${pkg.version}; contents checked`);
