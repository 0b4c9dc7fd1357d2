// Reads GS1 Digital Link URIs (one per line) on stdin; prints one JSON line per URI: {uri, valid}.
const { DigitalLink } = require('digital-link.js');
const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(Boolean);
for (const uri of lines) {
  let valid = false;
  try { valid = DigitalLink(uri).isValid(); } catch (e) { valid = false; }
  console.log(JSON.stringify({ uri, valid }));
}
