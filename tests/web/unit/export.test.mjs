// Folded and SVG exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toFolded, toSVG, xml } from '../../../web/js/export.js';
import { decode, findPath } from '../../../web/js/flamebearer.js';
import { nodeColorFn, palette } from '../../../web/js/colors.js';
import { renderResponse, diffResponse } from '../lib/build.mjs';
import { xmlError } from '../lib/xml.mjs';

const folded = 'main;handle;parse_json 120\nmain;handle;db_query;mutex_lock 75\nmain;idle 3\nmain 2\n';

test('folded export reproduces the ingested stacks', () => {
  const p = decode(renderResponse(folded));
  assert.equal(toFolded(p), folded.split('\n').filter(Boolean).sort().join('\n') + '\n');
});

test('folded export of a zoomed node keeps the full stacks below it', () => {
  const p = decode(renderResponse(folded));
  const out = toFolded(p, findPath(p, ['main', 'handle']));
  assert.equal(out, 'main;handle;db_query;mutex_lock 75\nmain;handle;parse_json 120\n');
});

test('folded export of a diff side', () => {
  const p = decode(diffResponse('a;b 2', 'a;c 3'));
  assert.equal(toFolded(p, 0, 'lself'), 'a;b 2\n');
  assert.equal(toFolded(p, 0, 'rself'), 'a;c 3\n');
});

test('the SVG export is standalone, titled and escapes names', () => {
  const p = decode(renderResponse('main;operator<<&"x" 5\nmain;idle 5'));
  const svg = toSVG(p, {
    width: 600, colorOf: nodeColorFn(p), palette: palette('light'), text: '#000', title: 'app <cpu>',
    label: (i) => `${p.names[p.name[i]]}: ${p.total[i]}`,
  });
  assert.ok(svg.startsWith('<?xml'));
  assert.match(svg, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="600"/);
  assert.match(svg, /app &lt;cpu&gt;/);
  assert.match(svg, /<title>operator&lt;&lt;&amp;&quot;x&quot;: 5<\/title>/);
  assert.equal((svg.match(/<rect /g) || []).length, 1 + 4);
  assert.ok(!svg.includes('operator<<'));
});

test('the SVG export is well-formed XML whatever bytes the names hold', () => {
  // Control characters, a NUL, DEL, a C1 control, noncharacters and a lone
  // surrogate: what a frame name from an agent may hold once decoded.
  const nasty = 'bad\x01name\x00with\x1fcontrols\x7f\x85\ufffe\ud800end';
  const p = decode(renderResponse(`main;${nasty} 5\nmain;ok\t<tab> 5`));
  const svg = toSVG(p, {
    width: 600, colorOf: nodeColorFn(p), palette: palette('light'), text: '#000',
    title: `app\x02 <cpu>`, subtitle: 'from\x1b[0m now',
    label: (i) => `${p.names[p.name[i]]}\ntotal: ${p.total[i]}`,
  });
  assert.equal(xmlError(svg), null);
  assert.match(svg, /<title>badnamewithcontrols\ufffd\ufffdend\ntotal: 5<\/title>/);
  assert.match(svg, /ok\t&lt;tab&gt;/);
  assert.match(svg, />app &lt;cpu&gt;</);
  // The checker does catch what the export used to write.
  assert.match(xmlError('<svg><title>a\x01b</title></svg>'), /U\+1 not allowed/);
  assert.match(xmlError('<svg><g></svg>'), /closes/);
});

test('xml() keeps text and line breaks and drops what XML refuses', () => {
  assert.equal(xml('a<b>&"c\''), 'a&lt;b&gt;&amp;&quot;c&apos;');
  assert.equal(xml('line\nnext\ttab\r'), 'line\nnext\ttab\r');
  assert.equal(xml('\x00\x08\x0b\x0c\x0e\x1f\x7f\x9f'), '');
  assert.equal(xml('\ud83d\ude00 \ud83d x \ude00'), '\ud83d\ude00 \ufffd x \ufffd');
});
