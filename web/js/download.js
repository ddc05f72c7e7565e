// The export menu of a panel. The SVG and HTML files come from the server's
// own renderers (/render and /render-diff with format=svg or html), so the
// page and the server never draw two different SVGs; pprof comes from
// format=pprof. The PNG (the graph as drawn, under a header that says what
// it shows), the flamebearer JSON and folded text are made in the page.
// A diff's files are named after both sides.

import { toFolded } from './export.js';
import { getBlob } from './api.js';
import { textColor, diffLegend } from './colors.js';
import { formatValue } from './format.js';
import { formatTime } from './time.js';

export function exportMenuHTML(side) {
  const diff = side === 'diff';
  const folded = diff
    ? '<button type="button" data-export="folded-left">Folded text, left side (.txt)</button>' +
      '<button type="button" data-export="folded-right">Folded text, right side (.txt)</button>'
    : '<button type="button" data-export="folded">Folded text (.txt)</button>';
  const pprof = diff
    ? '<button type="button" data-export="pprof-left">pprof, left side (.pb.gz)</button>' +
      '<button type="button" data-export="pprof-right">pprof, right side (.pb.gz)</button>'
    : '<button type="button" data-export="pprof">pprof (.pb.gz)</button>';
  return `<details class="menu popover">
    <summary aria-label="Export this flame graph">Export</summary>
    <div class="popover-body" role="menu">
      <button type="button" data-export="png">PNG image with its header (.png)</button>
      <button type="button" data-export="svg">Interactive SVG (.svg)</button>
      <button type="button" data-export="html">Standalone HTML page (.html)</button>
      ${pprof}
      <button type="button" data-export="json">Flamebearer JSON (.json)</button>
      ${folded}
      <p class="export-error error" role="alert" hidden></p>
    </div>
  </details>`;
}

export function download(filename, data, type) {
  const blob = data instanceof Blob ? data : new Blob([data], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- File names ------------------------------------------------------------

// A query as a file name: app.cpu{region="eu-north"} -> app.cpu_region-eu-north.
export function queryStem(q) {
  return String(q || 'profile')
    .replace(/[{}]/g, '_')
    .replace(/"([^"]*)"/g, '$1')
    .replace(/[=~!]+/g, '-')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '');
}

function compactTime(t) {
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}

// What a file is called: the query; for a side of the comparison, its
// side; for a diff, both sides: "diff_app.cpu_region-eu-north_vs_region-us-east",
// or the two times when the sides compare times of one query.
export function fileStem(req) {
  if (!req) return 'profile';
  if (req.kind !== 'diff') return `${queryStem(req.query)}${req.side ? `-${req.side}` : ''}`;
  const l = req.left;
  const r = req.right;
  if (l.query !== r.query) {
    const ls = queryStem(l.query);
    let rs = queryStem(r.query);
    const app = ls.split('_')[0];
    if (rs.startsWith(`${app}_`)) rs = rs.slice(app.length + 1);
    return `diff_${ls}_vs_${rs || app}`;
  }
  return `diff_${queryStem(l.query)}_${compactTime(l.from)}_vs_${compactTime(r.from)}`;
}

// ---- PNG -------------------------------------------------------------------

function rangeText(from, until) {
  const span = until - from;
  return `${formatTime(from, Math.max(span, 86401))} – ${formatTime(until, span > 86400 ? 86401 : 0)}`;
}

// The lines of the PNG's header.
export function headerLines(panel) {
  const req = panel.opts.request ? panel.opts.request() : null;
  const p = panel.p;
  const meta = p.metadata || {};
  if (p.format === 'double' && req && req.kind === 'diff') {
    return [
      `Diff: ${req.left.query} → ${req.right.query}`,
      `Left: ${req.left.query} · ${rangeText(req.left.from, req.left.until)} · total ${formatValue(p.leftTicks, meta)}`,
      `Right: ${req.right.query} · ${rangeText(req.right.from, req.right.until)} · total ${formatValue(p.rightTicks, meta)}`,
    ];
  }
  const lines = [req ? req.query : panel.title];
  if (req) lines.push(`${rangeText(req.from, req.until)} · total ${formatValue(p.numTicks, meta)}`);
  else lines.push(`total ${formatValue(p.numTicks, meta)}`);
  if (panel.view.search && panel.view.search.active && panel.matchEl.textContent) lines.push(`Search${panel.matchEl.textContent}`);
  return lines;
}

// The graph as drawn, under its header (and the diff legend), as a PNG.
function composePNG(panel, callback) {
  const g = panel.graph;
  g.draw();
  const dpr = g.dpr || 1;
  const lines = headerLines(panel);
  const double = panel.p.format === 'double';
  const lineH = 18;
  const legendH = double ? 34 : 0;
  const head = Math.round((10 + lines.length * lineH + legendH + 8) * dpr);
  const graphH = Math.round((g.cssHeight || 0) * dpr);
  const c = document.createElement('canvas');
  c.width = g.canvas.width;
  c.height = head + graphH;
  const ctx = c.getContext('2d');
  ctx.fillStyle = g.bg || '#ffffff';
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.scale(dpr, dpr);
  ctx.fillStyle = textColor(g.theme);
  ctx.textBaseline = 'top';
  lines.forEach((text, k) => {
    ctx.font = `${k === 0 ? 'bold 14px' : '12px'} system-ui, sans-serif`;
    ctx.fillText(text, 8, 8 + k * lineH);
  });
  if (double) {
    const { steps, ticks } = diffLegend(g.pal);
    const y = 10 + lines.length * lineH;
    const x0 = 8 + 120;
    const w = 12;
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillText('less on the right', 8, y + 1);
    steps.forEach((s, k) => {
      ctx.fillStyle = s.color;
      ctx.fillRect(x0 + k * w, y, w, 12);
    });
    ctx.fillStyle = textColor(g.theme);
    ctx.fillText('more', x0 + steps.length * w + 8, y + 1);
    for (const t of ticks) {
      const x = x0 + (t.at * 10 + 10 + 0.5) * w;
      ctx.fillRect(x, y + 12, 1, 3);
      const tw = ctx.measureText(t.label).width;
      ctx.fillText(t.label, x - tw / 2, y + 16);
    }
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.drawImage(g.canvas, 0, 0, g.canvas.width, graphH, 0, head, g.canvas.width, graphH);
  c.toBlob(callback, 'image/png');
}

// ---- Running an export -------------------------------------------------------

// Server parameters for an export of the panel's request as `format`;
// side picks one side of a diff (for pprof).
function serverRequest(req, format, side) {
  if (req.kind === 'diff' && !side) {
    return [
      'render-diff',
      {
        leftQuery: req.left.query,
        leftFrom: req.left.from,
        leftUntil: req.left.until,
        rightQuery: req.right.query,
        rightFrom: req.right.from,
        rightUntil: req.right.until,
        maxNodes: req.maxNodes,
        format,
      },
    ];
  }
  const s = req.kind === 'diff' ? req[side] : req;
  return ['render', { query: s.query, from: s.from, until: s.until, maxNodes: req.maxNodes, format }];
}

async function fromServer(panel, format, ext, side) {
  const req = panel.opts.request && panel.opts.request();
  if (!req) return;
  const err = panel.exportMenu.querySelector('.export-error');
  err.hidden = true;
  const [path, params] = serverRequest(req, format, side);
  try {
    const blob = await getBlob(path, params);
    download(`${fileStem(req)}${side ? `-${side}` : ''}.${ext}`, blob);
  } catch (e) {
    err.textContent = `The server could not export this: ${e.message}`;
    err.hidden = false;
    panel.exportMenu.open = true;
  }
}

// Builds the export `kind` of a panel and hands it to the browser.
export function runExport(kind, panel) {
  const p = panel.p;
  if (!p) return;
  const g = panel.graph;
  const req = panel.opts.request ? panel.opts.request() : null;
  const stem = fileStem(req);
  switch (kind) {
    case 'json':
      download(`${stem}.json`, JSON.stringify(panel.raw), 'application/json');
      break;
    case 'folded':
    case 'folded-left':
    case 'folded-right': {
      const side = kind === 'folded' ? 'self' : kind === 'folded-left' ? 'lself' : 'rself';
      const suffix = kind === 'folded' ? '' : `-${kind.slice(7)}`;
      download(`${stem}${suffix}.txt`, toFolded(p, g.zoom, side), 'text/plain');
      break;
    }
    case 'svg':
      fromServer(panel, 'svg', 'svg');
      break;
    case 'html':
      fromServer(panel, 'html', 'html');
      break;
    case 'pprof':
      fromServer(panel, 'pprof', 'pb.gz');
      break;
    case 'pprof-left':
    case 'pprof-right':
      fromServer(panel, 'pprof', 'pb.gz', kind.slice(6));
      break;
    case 'png':
      composePNG(panel, (blob) => blob && download(`${stem}.png`, blob, 'image/png'));
      break;
    default:
      break;
  }
}
