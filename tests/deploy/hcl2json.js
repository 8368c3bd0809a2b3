// Parse Terraform files with @cdktf/hcl2json and print one JSON object:
// { "<file name>": <that file as JSON>, ... }. Exit 1 on a parse error.
//   HCL2JSON_MODULE=<dir>/node_modules/@cdktf/hcl2json node hcl2json.js FILE.tf...
'use strict';
const fs = require('fs');
const path = require('path');
const { parse } = require(process.env.HCL2JSON_MODULE || '@cdktf/hcl2json');

(async () => {
  const out = {};
  for (const file of process.argv.slice(2)) {
    out[path.basename(file)] = await parse(path.basename(file), fs.readFileSync(file, 'utf8'));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((err) => {
  process.stderr.write(String(err && err.message ? err.message : err) + '\n');
  process.exit(1);
});
