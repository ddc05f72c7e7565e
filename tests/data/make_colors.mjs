// Writes tests/data/colors.json from the web UI's colors (web/js/colors.js):
// frame names with their package and hue, and the light palette as HSL and
// as #rrggbb. The UI's tests (tests/web/unit/colors.test.mjs) and the
// exports' (tests/query/test_colors.c) both check their colors against it.
//   node tests/data/make_colors.mjs > tests/data/colors.json
import { packageOf, hueIndex, palette, diffStep, PALETTE_SIZE, HUES, OTHER, ROOT, DIM, DIFF_BASE, DIFF_STEPS } from '../../web/js/colors.js';

const names = [
  'main', 'com.acme.Server.handle', 'com.acme.Server.close', 'std::vector<int>::push_back',
  'net/http.(*conn).serve', 'github.com/acme/svc/pkg.Func', 'libc.so.6:malloc',
  'ns::Cls::run(std::string const&)', 'core::ptr::drop_in_place<alloc::vec::Vec<u8>>',
  'handle_request (app/server.py:42)', 'server:order_car (server.py:94)',
  'server:mutex_lock (server.py:58)', 'a (x:1:2)', 'f (:12)', 'g (file.py)', 'h (a(b).py:3)',
  '(anonymous)', '.hidden', '/abs', 'a::b', 'java/lang/Thread.run', 'HotMethods.cpuHeavy',
  'rt.sched.run', 'pkg.A', 'pkg.B', 'io/fs:Open', '0x7f3a2c1b (libc.so.6)', '[truncated]',
  'Ünïcödé.f', 'модуль.функция', '日本.関数', 'emoji😀.f', 'mixed[1].x', 'x<y>.z', 'a.b.c (d.e:7)',
  // Brackets but no "(": found by fuzzing the exports.
  'handle);parse_json', '.(*coc', 'x.y) (z.py:1)', 'a.b>c)',
];
const pal = palette('light', 'rg');

function hex(css) {
  const m = /^hsl\((\d+), (\d+)%, (\d+)%\)$/.exec(css);
  const h = +m[1] / 360, s = +m[2] / 100, l = +m[3] / 100;
  const m2 = l <= 0.5 ? l * (s + 1) : l + s - l * s, m1 = l * 2 - m2;
  const hue = (x) => {
    if (x < 0) x += 1;
    if (x > 1) x -= 1;
    if (x * 6 < 1) return m1 + (m2 - m1) * x * 6;
    if (x * 2 < 1) return m2;
    if (x * 3 < 2) return m1 + (m2 - m1) * (2 / 3 - x) * 6;
    return m1;
  };
  return '#' + [hue(h + 1 / 3), hue(h), hue(h - 1 / 3)]
    .map((v) => Math.round(v * 255).toString(16).padStart(2, '0')).join('');
}

const out = {
  hues: HUES, other: OTHER, root: ROOT, dim: DIM, diffBase: DIFF_BASE + DIFF_STEPS, diffSteps: DIFF_STEPS,
  names: names.map((name) => ({ name, package: packageOf(name), hue: hueIndex(name) })),
  changes: [0, 0.01, 0.019, 0.02, 0.05, 0.1, 0.5, 0.95, 1, 3, -0.01, -0.05, -0.5, -1].map((c) => ({ change: c, step: diffStep(c) })),
  palette: pal.map((css, i) => ({ index: i, hsl: css, hex: hex(css) })),
};
if (PALETTE_SIZE !== pal.length) throw new Error('palette size');
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
