// Validate FHIR R4 JSON files with npm "fhir" (4.12.0), for monitor/fhir's
// tests: base R4 structure (types, required elements, unknown properties).
// Usage: NODE_PATH=<prefix>/node_modules node validate.js FILE...
// Prints one JSON result per file: {"valid":bool,"messages":[...]}.
const fs = require('fs');
const { Fhir } = require('fhir');
const fhir = new Fhir();
const out = process.argv.slice(2).map((f) =>
  fhir.validate(JSON.parse(fs.readFileSync(f, 'utf8')), { errorOnUnexpected: true }));
process.stdout.write(JSON.stringify(out));
