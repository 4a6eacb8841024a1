'use strict';
// How the extension starts the language server: a pure function of the settings, PATH and the file system
// (unit-tested with `node --test`), so that the rule is the same in VS Code and in the tests.
//
//  1. `lgmsnet.server.path` set: that file. A *.dll runs as `dotnet <path> <args>` (a server built from the
//     repository, e.g. src/LGMSNet.LanguageServer/bin/Release/net10.0/LGMSNet.LanguageServer.dll); anything else runs
//     as `<path> <args>`. Relative to the first workspace folder. A missing file is an error, never a silent fallback.
//  2. A local tool manifest (.config/dotnet-tools.json or dotnet-tools.json in a workspace folder or above it) that
//     lists the `lgmsnet` command: `dotnet tool run lgmsnet <args>` in the manifest's folder. First, because a
//     manifest pins the server version the project's packages were made with.
//  3. `lgmsnet` on PATH (a global tool: `dotnet tool install -g LGMSNet.LanguageServer`): `<that file> <args>`.
//  4. Otherwise an error that says how to install it.
// <args> is `lgmsnet.server.args`, by default ["lsp"].
const path = require('path');

const TOOL_COMMAND = 'lgmsnet';
const TOOL_PACKAGE = 'LGMSNet.LanguageServer';
const DEFAULT_ARGS = ['lsp'];

/** A local tool manifest at or above `folder` that lists the lgmsnet command: its folder (the manifest root), or undefined. */
function findToolManifest(folder, fileSystem) {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    for (const candidate of [path.join(dir, '.config', 'dotnet-tools.json'), path.join(dir, 'dotnet-tools.json')]) {
      const text = fileSystem.readFile(candidate);
      if (text === undefined) continue;
      let manifest;
      try { manifest = JSON.parse(text); } catch { continue; }
      const tools = manifest && typeof manifest.tools === 'object' ? Object.values(manifest.tools) : [];
      if (tools.some((tool) => Array.isArray(tool?.commands) && tool.commands.includes(TOOL_COMMAND))) return { dir, manifest: candidate };
      // dotnet stops at the first manifest that is a root; so does this.
      if (manifest?.isRoot === true) return undefined;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** The first file named `command` (with PATHEXT's extensions on Windows) in PATH's folders, or undefined. */
function findOnPath(command, env, platform, fileSystem) {
  const windows = platform === 'win32';
  const pathValue = env.PATH ?? env.Path ?? '';
  const extensions = windows ? (env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean) : [''];
  for (const folder of pathValue.split(windows ? ';' : ':').filter(Boolean)) {
    for (const extension of extensions) {
      const candidate = path.join(folder, command + extension.toLowerCase());
      if (fileSystem.isFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * The server to start, or why none can be.
 * @param {{ serverPath?: string, serverArgs?: string[], workspaceFolders: string[], env: object, platform: string,
 *           fileSystem: { readFile(p): string|undefined, isFile(p): boolean } }} input (src/files.js)
 * @returns {{ command: string, args: string[], cwd?: string, how: string } | { error: string }}
 */
function resolveServer(input) {
  const { workspaceFolders, env, platform, fileSystem } = input;
  const args = Array.isArray(input.serverArgs) ? input.serverArgs.map(String) : DEFAULT_ARGS;
  const configured = (input.serverPath ?? '').trim();
  if (configured !== '') {
    const file = path.isAbsolute(configured) || workspaceFolders.length === 0 ? path.resolve(configured) : path.resolve(workspaceFolders[0], configured);
    if (!fileSystem.isFile(file)) return { error: `lgmsnet.server.path: no such file: ${file}` };
    if (file.toLowerCase().endsWith('.dll')) return { command: 'dotnet', args: [file, ...args], how: `dotnet ${file} (lgmsnet.server.path)` };
    return { command: file, args, how: `${file} (lgmsnet.server.path)` };
  }
  for (const folder of workspaceFolders) {
    const tool = findToolManifest(folder, fileSystem);
    if (tool) return { command: 'dotnet', args: ['tool', 'run', TOOL_COMMAND, ...args], cwd: tool.dir, how: `dotnet tool run ${TOOL_COMMAND} (local tool manifest ${tool.manifest})` };
  }
  const onPath = findOnPath(TOOL_COMMAND, env, platform, fileSystem);
  if (onPath) return { command: onPath, args, how: `${onPath} (PATH)` };
  return {
    error: `The LGMSNet language server was not found: no lgmsnet.server.path, no local tool manifest with the '${TOOL_COMMAND}' command and no '${TOOL_COMMAND}' on PATH. ` +
      `Install it with 'dotnet tool install -g ${TOOL_PACKAGE}' (or 'dotnet tool install ${TOOL_PACKAGE}' in a tool manifest), or set lgmsnet.server.path.`,
  };
}

module.exports = { resolveServer, findToolManifest, findOnPath, TOOL_COMMAND, TOOL_PACKAGE, DEFAULT_ARGS };
