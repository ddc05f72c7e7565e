// The export menu of a panel: SVG, PNG, the flamebearer JSON and folded
// text of the current view (zoom and highlight included), as downloads.

import { toFolded, toSVG } from './export.js';
import { textColor } from './colors.js';
import { formatValue, formatPercent } from './format.js';

export function exportMenuHTML(side) {
  const folded =
    side === 'diff'
      ? '<button type="button" data-export="folded-left">Folded text, left side (.txt)</button>' +
        '<button type="button" data-export="folded-right">Folded text, right side (.txt)</button>'
      : '<button type="button" data-export="folded">Folded text (.txt)</button>';
  return `<details class="menu popover">
    <summary aria-label="Export this flame graph">Export</summary>
    <div class="popover-body" role="menu">
      <button type="button" data-export="svg">SVG image (.svg)</button>
      <button type="button" data-export="png">PNG image (.png)</button>
      <button type="button" data-export="json">Flamebearer JSON (.json)</button>
      ${folded}
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

function plainLabel(p, i) {
  const meta = p.metadata || {};
  const name = i === 0 ? 'total' : p.names[p.name[i]];
  if (p.format === 'double') {
    return `${name}\nleft: ${formatValue(p.ltotal[i], meta)}, right: ${formatValue(p.rtotal[i], meta)}`;
  }
  const share = formatPercent(p.total[i] / (p.numTicks || 1));
  return `${name}\ntotal: ${formatValue(p.total[i], meta)} (${share}), self: ${formatValue(p.self[i], meta)}`;
}

// Builds the export `kind` of a panel and hands it to the browser.
export function runExport(kind, panel) {
  const p = panel.p;
  if (!p) return;
  const g = panel.graph;
  const stem = panel.fileStem();
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
    case 'svg': {
      const svg = toSVG(p, {
        zoom: g.zoom,
        width: Math.max(g.width || 0, 800),
        colorOf: g.colorFn,
        palette: g.pal,
        hit: g.hit,
        text: textColor(g.theme),
        background: g.bg || (g.theme === 'dark' ? '#1b1e25' : '#ffffff'),
        title: panel.query || panel.title,
        subtitle: panel.metaEl.textContent,
        label: (i) => plainLabel(p, i),
      });
      download(`${stem}.svg`, svg, 'image/svg+xml');
      break;
    }
    case 'png':
      g.draw();
      g.toPNG((blob) => blob && download(`${stem}.png`, blob, 'image/png'));
      break;
    default:
      break;
  }
}
