'use strict';
// The file system as the rules in selector.js and server.js read it; tests pass a fake with the same three functions.
const fs = require('fs');

const nodeFileSystem = {
  /** The file's text, or undefined when it cannot be read. */
  readFile(file) {
    try { return fs.readFileSync(file, 'utf8'); } catch { return undefined; }
  },
  /** The folder's entry names, or undefined when it cannot be listed. */
  readDir(folder) {
    try { return fs.readdirSync(folder); } catch { return undefined; }
  },
  isFile(file) {
    try { return fs.statSync(file).isFile(); } catch { return false; }
  },
};

module.exports = { nodeFileSystem };
