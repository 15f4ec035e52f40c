// Writes dist/index.mjs: an ES module face over the CommonJS build, so both `import` and `require` work.
'use strict';
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const api = require(join(__dirname, '..', 'dist', 'index.js'));
const names = Object.keys(api).filter((n) => n !== 'default' && n !== '__esModule');
const lines = [
  "import api from './index.js';",
  ...names.map((n) => `export const ${n} = api.${n};`),
  'export default api;',
  '',
];
writeFileSync(join(__dirname, '..', 'dist', 'index.mjs'), lines.join('\n'));
