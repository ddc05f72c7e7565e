// Folded exports and the names of export files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toFolded } from '../../../web/js/export.js';
import { fileStem } from '../../../web/js/download.js';
import { decode, findPath } from '../../../web/js/flamebearer.js';
import { renderResponse, diffResponse } from '../lib/build.mjs';

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

test('export files are named after what they show, a diff after both sides', () => {
  assert.equal(fileStem({ kind: 'single', query: 'ride-sharing-app.cpu{region="eu-north"}' }), 'ride-sharing-app.cpu_region-eu-north');
  assert.equal(fileStem({ kind: 'single', query: 'app.cpu{}', side: 'left' }), 'app.cpu-left');
  const diff = {
    kind: 'diff',
    left: { query: 'ride-sharing-app.cpu{region="eu-north"}', from: 1700000000, until: 1700000300 },
    right: { query: 'ride-sharing-app.cpu{region="us-east"}', from: 1700000000, until: 1700000300 },
  };
  assert.equal(fileStem(diff), 'diff_ride-sharing-app.cpu_region-eu-north_vs_region-us-east');
  const times = { ...diff, right: { ...diff.left, from: 1700003600 } };
  assert.match(fileStem(times), /^diff_ride-sharing-app\.cpu_region-eu-north_\d{8}-\d{4}_vs_\d{8}-\d{4}$/);
});
