// Time syntax, presets, ranges and axis ticks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTime, isTime, resolveRange, halves, presetOf, timeTicks, axisTicks, toLocalInput, fromLocalInput, describeRange } from '../../../web/js/time.js';

const now = 1700000000;

test('parseTime reads the server time syntax', () => {
  assert.equal(parseTime('now', now), now);
  assert.equal(parseTime('now-1h', now), now - 3600);
  assert.equal(parseTime('now-30m', now), now - 1800);
  assert.equal(parseTime('now-5min', now), now - 300);
  assert.equal(parseTime('now+5m', now), now + 300);
  assert.equal(parseTime('now-1M', now), now - 30 * 86400);
  assert.equal(parseTime('now-2w', now), now - 14 * 86400);
  assert.equal(parseTime('1700000000', now), 1700000000);
  assert.equal(parseTime('1700000000123', now), 1700000000);
  assert.equal(parseTime('1700000000123456', now), 1700000000);
  assert.equal(parseTime('1700000000123456789', now), 1700000000);
});

test('parseTime refuses what the server refuses', () => {
  assert.equal(parseTime('17000000001', now), null);
  assert.equal(parseTime('yesterday', now), null);
  assert.equal(parseTime('now-1x', now), null);
  assert.equal(parseTime('', now), null);
  assert.ok(!isTime('now-'));
  assert.ok(isTime('now-7d'));
});

test('ranges resolve or explain what is wrong', () => {
  assert.deepEqual(resolveRange('now-1h', 'now', now), { from: now - 3600, until: now });
  assert.throws(() => resolveRange('now', 'now-1h', now), /after its start/);
  assert.throws(() => resolveRange('bad', 'now', now), /"bad" is not a time/);
});

test('halves split a range into before and after', () => {
  assert.deepEqual(halves(100, 200), { left: { from: 100, until: 150 }, right: { from: 150, until: 200 } });
});

test('presets are recognised only for ranges ending now', () => {
  assert.equal(presetOf('now-1h', 'now').key, '1h');
  assert.equal(presetOf('now-1h', 'now-5m'), null);
  assert.equal(presetOf('now-2h', 'now'), null);
  assert.equal(describeRange('now-7d', 'now', now), 'Last 7 days');
});

test('ticks fall on round steps inside the range', () => {
  const utc = () => 0;
  const ticks = timeTicks(1000, 4600, 8, utc);
  assert.deepEqual(ticks, [1200, 1800, 2400, 3000, 3600, 4200]);
  const day = timeTicks(0, 7 * 86400, 8, utc);
  assert.equal(day.length, 7);
  assert.equal(day[1] - day[0], 86400);
  assert.deepEqual(timeTicks(10, 10, 5, utc), []);
});

test('datetime-local values round-trip', () => {
  const t = 1700000040;
  assert.equal(fromLocalInput(toLocalInput(t)), t);
  assert.equal(fromLocalInput('garbage'), null);
});

test('axis labels never repeat: seconds when ticks are under a minute apart', () => {
  const utc = () => 0;
  for (const [span, width] of [[120, 8], [300, 12], [300, 6], [3600, 12], [86400 * 2, 10], [86400 * 60, 8], [86400 * 400, 8], [40, 8]]) {
    const { ticks } = axisTicks(1700000000, 1700000000 + span, width, utc);
    const labels = ticks.map((t) => t.label);
    assert.equal(new Set(labels).size, labels.length, `${span} s: ${labels.join(', ')}`);
    assert.ok(labels.length >= 2, `${span} s has ticks`);
  }
  const short = axisTicks(1700000000, 1700000120, 8, utc);
  assert.match(short.ticks[0].label, /^\d\d:\d\d:\d\d$/);
  const hour = axisTicks(1700000000, 1700003600, 8, utc);
  assert.match(hour.ticks[0].label, /^\d\d:\d\d$/);
});
