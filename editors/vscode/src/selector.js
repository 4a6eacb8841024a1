'use strict';
// Which YAML files are LGMSNet architectures: the one rule the extension uses to hand a file to the
// lgmsnet language server. No VS Code here (unit-tested with `node --test` over the repository's files);
// the file system is passed in (src/files.js by default, or a fake) so the rule itself stays a pure function.
//
// In order:
//  1. Only *.yaml and *.yml.
//  2. Never: sweep files (*.sweep.yaml, read by `lgmsnet sweep`, not by the compiler), compose files (VS Code's
//     own compose patterns), anything under .github/ or .gitlab/ or node_modules/, .gitlab-ci.yml, and the bin/,
//     obj/ and runs/ folders of the owning project (the build leaves those out too; runs/ keeps copies of the YAML).
//  3. A `# yaml-language-server: $schema=...` modeline decides when there is one: in when the schema is
//     lgmsnet.schema.json or a local schema file that is an LGMSNet architecture schema (a project's own, written by
//     the `schema` command, e.g. tests' test-blocks.schema.json); out for any other schema.
//  4. Without a modeline: in when the file is *.yaml (the build's default glob) and the nearest folder upwards with a *.csproj holds a project that uses the LGMSNet
//     build logic (a PackageReference to LGMSNet.Dsl or LGMSNet.Runtime, or an Import of LGMSNet.Architectures.targets
//     or LGMSNet.Dsl.targets), which compiles every *.yaml under it by default — unless that project sets
//     LgmsArchitectureFiles (an MSBuild glob this rule does not evaluate: such files need the modeline) or the text
//     is a sweep (top-level architectures/datasets/seeds and no widths/encoder/decoder).
const path = require('path');
const { nodeFileSystem } = require('./files');

const ARCHITECTURE_SCHEMA = 'lgmsnet.schema.json';
// The title every schema written by the compiler's schema writer carries (schemas/lgmsnet.schema.json).
const ARCHITECTURE_SCHEMA_TITLE = /"title"\s*:\s*"LGMSNet architecture"/;
const MODELINE = /^#\s*yaml-language-server\s*:(.*)$/;
const SCHEMA_IN_MODELINE = /\$schema=(\S+)/;

// VS Code's built-in compose patterns (its yaml extension's dockercompose language) and other well-known YAML.
const EXCLUDED_NAMES = [/^compose(\..+)?\.ya?ml$/, /docker.*compose.*\.ya?ml$/, /\.sweep\.ya?ml$/, /^\.gitlab-ci\.ya?ml$/];
const EXCLUDED_FOLDERS = new Set(['.github', '.gitlab', 'node_modules', '.git']);
const PROJECT_OUTPUT_FOLDERS = new Set(['bin', 'obj', 'runs']);

const LGMSNET_PROJECT = [
  /<PackageReference\s+[^>]*Include\s*=\s*"LGMSNet\.(Dsl|Runtime)"/i,
  /<Import\s+[^>]*Project\s*=\s*"[^"]*LGMSNet\.(Architectures|Dsl)\.targets"/i,
];
const EXPLICIT_FILES = /<LgmsArchitectureFiles\b/;

const SWEEP_KEYS = new Set(['architectures', 'datasets', 'seeds']);
const ARCHITECTURE_KEYS = new Set(['widths', 'encoder', 'decoder']);

/** The schema reference of the file's `# yaml-language-server: $schema=` modeline, or undefined. */
function modelineSchema(text) {
  for (const line of text.split(/\r\n|\r|\n/)) {
    const trimmed = line.replace(/^\uFEFF/, '').trim();
    const modeline = MODELINE.exec(trimmed);
    if (!modeline) continue;
    const schema = SCHEMA_IN_MODELINE.exec(modeline[1]);
    if (schema) return schema[1];
  }
  return undefined;
}

/** The keys at the top level of a block mapping (column 0), read line by line without a YAML parser. */
function topLevelKeys(text) {
  const keys = new Set();
  for (const line of text.split(/\r\n|\r|\n/)) {
    const key = /^([A-Za-z_][\w-]*)\s*:/.exec(line);
    if (key) keys.add(key[1]);
  }
  return keys;
}

/** The nearest folder at or above `folder` that holds *.csproj files: { dir, projects: [{ file, text }] }. */
function owningProject(folder, fileSystem) {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    const projects = (fileSystem.readDir(dir) ?? []).filter((name) => name.toLowerCase().endsWith('.csproj'));
    if (projects.length > 0) {
      return { dir, projects: projects.map((name) => ({ file: path.join(dir, name), text: fileSystem.readFile(path.join(dir, name)) ?? '' })) };
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

function isArchitectureSchema(reference, yamlFolder, fileSystem) {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(reference)) return path.posix.basename(reference.split(/[?#]/)[0]) === ARCHITECTURE_SCHEMA;
  if (path.basename(reference) === ARCHITECTURE_SCHEMA) return true;
  const text = fileSystem.readFile(path.resolve(yamlFolder, reference));
  return text !== undefined && ARCHITECTURE_SCHEMA_TITLE.test(text.slice(0, 4096));
}

/**
 * Whether the YAML file at `file` (absolute path) with this text is an LGMSNet architecture.
 * @returns {{ architecture: boolean, reason: string }}
 */
function classify(file, text, fileSystem = nodeFileSystem) {
  const name = path.basename(file).toLowerCase();
  if (!/\.ya?ml$/.test(name)) return { architecture: false, reason: 'not a .yaml or .yml file' };
  const excludedName = EXCLUDED_NAMES.find((pattern) => pattern.test(name));
  if (excludedName) return { architecture: false, reason: `${name} is ${name.endsWith('.sweep.yaml') || name.endsWith('.sweep.yml') ? 'a sweep file' : 'not an architecture by its name'}` };
  const folders = path.dirname(file).split(/[\\/]/);
  const excludedFolder = folders.find((segment) => EXCLUDED_FOLDERS.has(segment));
  if (excludedFolder) return { architecture: false, reason: `inside ${excludedFolder}/` };

  const folder = path.dirname(file);
  const project = owningProject(folder, fileSystem);
  if (project) {
    const first = path.relative(project.dir, file).split(/[\\/]/)[0];
    if (PROJECT_OUTPUT_FOLDERS.has(first) && path.relative(project.dir, file).includes(path.sep)) {
      return { architecture: false, reason: `inside the project's ${first}/ folder` };
    }
  }

  const schema = modelineSchema(text);
  if (schema !== undefined) {
    return isArchitectureSchema(schema, folder, fileSystem)
      ? { architecture: true, reason: `modeline schema ${schema}` }
      : { architecture: false, reason: `modeline names another schema (${schema})` };
  }

  if (!name.endsWith('.yaml')) return { architecture: false, reason: 'no modeline and not *.yaml (the build compiles *.yaml)' };
  if (!project) return { architecture: false, reason: 'no modeline and no project file above it' };
  const lgmsnet = project.projects.filter((p) => LGMSNET_PROJECT.some((pattern) => pattern.test(p.text)));
  if (lgmsnet.length === 0) return { architecture: false, reason: `no modeline and ${path.basename(project.projects[0].file)} does not use LGMSNet.Dsl` };
  if (lgmsnet.some((p) => EXPLICIT_FILES.test(p.text))) {
    return { architecture: false, reason: `no modeline and ${path.basename(lgmsnet[0].file)} lists its architectures in LgmsArchitectureFiles` };
  }
  const keys = topLevelKeys(text);
  if ([...SWEEP_KEYS].some((k) => keys.has(k)) && ![...ARCHITECTURE_KEYS].some((k) => keys.has(k))) {
    return { architecture: false, reason: 'no modeline and its keys are a sweep\'s' };
  }
  return { architecture: true, reason: `a *.yaml of ${path.basename(lgmsnet[0].file)}, which compiles every *.yaml under its folder` };
}

module.exports = { classify, modelineSchema, owningProject, ARCHITECTURE_SCHEMA };
