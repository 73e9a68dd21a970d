// Baseline of bench/fhirpath: the reference JavaScript FHIRPath implementation (npm package
// `fhirpath`, R4 model) evaluating the same expressions over the same NDJSON resources.
// Usage: node baseline.js EXPRESSIONS.txt FILE.ndjson...   prints one JSON line of results.
'use strict';
const fs = require('fs');
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

const [exprFile, ...files] = process.argv.slice(2);
const expressions = fs.readFileSync(exprFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
const compiled = expressions.map((e) => fhirpath.compile(e, r4));
let resources = 0;
let items = 0;
let bytes = 0;
const start = process.hrtime.bigint();
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  bytes += Buffer.byteLength(text);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const resource = JSON.parse(line);
    resources++;
    for (const fn of compiled) items += fn(resource).length;
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const rss = process.resourceUsage().maxRSS; // KiB
console.log(JSON.stringify({ resources, items, bytes, seconds, peak_rss_kb: rss }));
