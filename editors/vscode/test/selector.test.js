'use strict';
// The rule that makes a YAML file an architecture (src/selector.js), over the repository's own files and over
// files that are not architectures, placed where they would be found in a real project.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { classify, modelineSchema } = require('../src/selector');
const { nodeFileSystem } = require('../src/files');

const repo = path.resolve(__dirname, '..', '..', '..');
const yamlIn = (folder) => fs.readdirSync(path.join(repo, folder)).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(repo, folder, f));
const verdict = (file) => classify(file, fs.readFileSync(file, 'utf8'));

const architectures = [
  ...yamlIn('architectures'),
  ...yamlIn(path.join('src', 'LGMSNet.Templates', 'content', 'lgmsnet')),
  ...yamlIn(path.join('tests', 'LGMSNet.Runtime.Tests', 'architectures')),
];

test('the repository has the files this test is about', () => {
  assert.ok(yamlIn('architectures').length >= 13, 'architectures/*.yaml');
  assert.ok(yamlIn(path.join('src', 'LGMSNet.Templates', 'content', 'lgmsnet')).includes(path.join(repo, 'src', 'LGMSNet.Templates', 'content', 'lgmsnet', 'lgmsnet-se.yaml')));
  assert.ok(yamlIn('sweeps').length >= 2, 'sweeps/*.sweep.yaml');
});

for (const file of architectures) {
  test(`architecture: ${path.relative(repo, file)}`, () => {
    const v = verdict(file);
    assert.equal(v.architecture, true, v.reason);
  });
}

// Their own schema (test-blocks.schema.json, written by the schema command for the test project's blocks) counts.
test('a modeline to a project schema written by the schema command counts, by the schema title', () => {
  const v = verdict(path.join(repo, 'tests', 'LGMSNet.Runtime.Tests', 'architectures', 'scaled.yaml'));
  assert.deepEqual(v, { architecture: true, reason: 'modeline schema test-blocks.schema.json' });
});

for (const file of yamlIn('sweeps')) {
  test(`not an architecture: sweep ${path.relative(repo, file)}`, () => {
    const v = verdict(file);
    assert.equal(v.architecture, false);
    assert.match(v.reason, /sweep file/);
  });
}

// Files that are not architectures, at the paths where they would be: next to the architectures (whose project
// compiles every *.yaml), at the repository root, in a template project.
const architecturesDir = path.join(repo, 'architectures');
const templateDir = path.join(repo, 'src', 'LGMSNet.Templates', 'content', 'lgmsnet');
const workflow = 'name: ci\non:\n  push:\n    branches: [main]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: bash .ci/run\n';
const compose = 'services:\n  train:\n    image: lgmsnet\n    volumes: ["./runs:/runs"]\n';
const sweepText = fs.readFileSync(path.join(repo, 'sweeps', 'quick.sweep.yaml'), 'utf8');
const others = [
  ['a GitHub workflow', path.join(repo, '.github', 'workflows', 'ci.yaml'), workflow, /inside \.github/],
  ['a GitHub workflow in an LGMSNet project', path.join(architecturesDir, '.github', 'workflows', 'ci.yml'), workflow, /inside \.github/],
  ['docker-compose.yaml in an LGMSNet project', path.join(architecturesDir, 'docker-compose.yaml'), compose, /by its name/],
  ['compose.yml', path.join(repo, 'compose.yml'), compose, /by its name/],
  ['compose.override.yaml in the template', path.join(templateDir, 'compose.override.yaml'), compose, /by its name/],
  ['GitLab CI', path.join(repo, '.gitlab-ci.yml'), workflow, /by its name/],
  ['a sweep named *.sweep.yaml inside an LGMSNet project', path.join(templateDir, 'mine.sweep.yaml'), sweepText, /sweep file/],
  ['a sweep without the .sweep suffix inside an LGMSNet project', path.join(templateDir, 'study.yaml'), sweepText, /sweep's/],
  ['random YAML outside any project', path.join(os.tmpdir(), 'lgms-none', 'notes.yaml'), 'title: my notes\nitems: [a, b]\n', /no project file/],
  ['random YAML in a project that does not use LGMSNet', path.join(repo, 'tests', 'LGMSNet.Compiler.Tests', 'settings.yaml'), 'title: my notes\n', /does not use LGMSNet/],
  ['YAML in a project that lists its architectures (LgmsArchitectureFiles)', path.join(repo, 'tests', 'LGMSNet.Runtime.Tests', 'xunit-extra.yaml'), 'retries: 2\n', /LgmsArchitectureFiles/],
  ['a modeline to another schema in an LGMSNet project', path.join(architecturesDir, 'kustomization.yaml'), '# yaml-language-server: $schema=https://json.schemastore.org/kustomization.json\nresources: []\n', /another schema/],
  ['a training run\'s copy in the project\'s runs/', path.join(templateDir, 'runs', 'first', 'lgmsnet.yaml'), fs.readFileSync(path.join(repo, 'architectures', 'lgmsnet.yaml'), 'utf8'), /runs\/ folder/],
  ['a file in obj/', path.join(architecturesDir, 'obj', 'Debug', 'x.yaml'), 'name: X\n', /obj\/ folder/],
  ['a .yml without a modeline in an LGMSNet project', path.join(architecturesDir, 'extra.yml'), 'name: X\nwidths: [8]\n', /not \*\.yaml/],
  ['not YAML', path.join(architecturesDir, 'Program.cs'), 'class P {}', /not a \.yaml/],
];
for (const [what, file, text, reason] of others) {
  test(`not an architecture: ${what}`, () => {
    const v = classify(file, text);
    assert.equal(v.architecture, false, v.reason);
    assert.match(v.reason, reason);
  });
}

test('no modeline, in a project that uses LGMSNet (the template, the architectures project): an architecture', () => {
  const text = fs.readFileSync(path.join(repo, 'architectures', 'unet.yaml'), 'utf8').replace(/^# yaml-language-server.*\n/, '');
  assert.equal(modelineSchema(text), undefined);
  for (const folder of [templateDir, architecturesDir, path.join(architecturesDir, 'nested')]) {
    const v = classify(path.join(folder, 'mine.yaml'), text);
    assert.equal(v.architecture, true, v.reason);
    assert.match(v.reason, /compiles every \*\.yaml/);
  }
});

test('a modeline decides anywhere, with CRLF, a BOM and a URL with a query', () => {
  const elsewhere = path.join(os.tmpdir(), 'lgms-none', 'net.yaml');
  assert.equal(classify(elsewhere, '\uFEFF# yaml-language-server: $schema=../schemas/lgmsnet.schema.json\r\nname: X\r\n').architecture, true);
  assert.equal(classify(elsewhere, '# comment\n#yaml-language-server:   $schema=https://example.org/x/lgmsnet.schema.json?v=2\nname: X\n').architecture, true);
  assert.equal(classify(elsewhere, '# yaml-language-server: $schema=https://example.org/lgmsnet.schema.json.bak\n').architecture, false);
  assert.equal(classify(elsewhere.replace(/\.yaml$/, '.yml'), '# yaml-language-server: $schema=lgmsnet.schema.json\n').architecture, true);
  // The schema is missing on disk and is not named lgmsnet.schema.json: not ours.
  assert.equal(classify(elsewhere, '# yaml-language-server: $schema=missing.schema.json\n').architecture, false);
});

test('the file system is only read through the adapter it is given', () => {
  const seen = [];
  const fake = {
    readFile: (p) => { seen.push(p); return p.endsWith('.csproj') ? '<Project><ItemGroup><PackageReference Include="LGMSNet.Runtime" Version="0.2.0" /></ItemGroup></Project>' : undefined; },
    readDir: (p) => (p === path.resolve('/virtual/proj') ? ['Nets.csproj', 'a.yaml'] : undefined),
  };
  const v = classify(path.resolve('/virtual/proj/a.yaml'), 'name: A\nwidths: [8]\n', fake);
  assert.equal(v.architecture, true, v.reason);
  assert.deepEqual(seen, [path.resolve('/virtual/proj/Nets.csproj')]);
  assert.equal(nodeFileSystem.readFile(path.join(os.tmpdir(), 'lgms-does-not-exist', 'x')), undefined);
});
