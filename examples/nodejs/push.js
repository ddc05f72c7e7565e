// Pushes this process's own profiles to Ember with @pyroscope/nodejs, the
// way a Node.js service would: static tags from init(), a dynamic label
// from wrapWithLabels(), a short flush interval so a few seconds suffice.
//
// Usage: node push.js <server address> <app name> [seconds]
//   e.g. node push.js http://127.0.0.1:4040 nodeapp 3
//
// busyCar() runs inside wrapWithLabels({vehicle: 'car'}) and does twice the
// work of busyWalk(), which runs without a label: about two thirds and one
// third of the time.
'use strict';

const Pyroscope = require('@pyroscope/nodejs');

const [serverAddress = 'http://127.0.0.1:4040', appName = 'nodeapp', secs = '3'] =
  process.argv.slice(2);

let sink = 0;

// n steps of work: about 10 ms per million on current machines.
function spin(n) {
  for (let i = 0; i < n; i++) sink = (sink * 31 + i) % 1000003;
}

function busyCar() {
  spin(2000000);
}

function busyWalk() {
  spin(1000000);
}

// One round of work, then back to the event loop so the agent's timers run.
function round(until, done) {
  Pyroscope.wrapWithLabels({ vehicle: 'car' }, busyCar);
  busyWalk();
  if (Date.now() < until) setImmediate(round, until, done);
  else done();
}

// @pyroscope/nodejs 0.6.4 may still run a flush that was already due when
// stop() was called; it then throws 'Wall profiler is not started' from a
// timer. stop() itself pushes what was profiled, so nothing is lost: that
// one error is not fatal.
let stopping = false;
process.on('uncaughtException', (err) => {
  if (stopping && /profiler is not started/.test(err.message)) return;
  console.error(err);
  process.exit(1);
});

Pyroscope.init({
  serverAddress,
  appName,
  tags: { region: 'eu-north', env: 'test' },
  flushIntervalMs: 1000,
  wall: { samplingDurationMs: 1000, samplingIntervalMicros: 10000 },
});
Pyroscope.start();

round(Date.now() + Number(secs) * 1000, async () => {
  stopping = true;
  await Pyroscope.stop(); // pushes what was profiled since the last flush
  console.log(`done: ${appName} pushed to ${serverAddress} (sink ${sink})`);
});
