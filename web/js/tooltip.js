// One floating tooltip shared by every graph and timeline: whoever showed it
// last owns it, so a component leaving does not hide another's tooltip.

export class Tooltip {
  constructor(el) {
    this.el = el;
    this.owner = null;
    this.html = '';
  }

  show(owner, html, clientX, clientY) {
    this.owner = owner;
    if (html !== this.html) {
      this.el.innerHTML = html;
      this.html = html;
    }
    this.el.hidden = false;
    const pad = 14;
    const w = this.el.offsetWidth;
    const h = this.el.offsetHeight;
    let x = clientX + pad;
    let y = clientY + pad;
    if (x + w > window.innerWidth - 4) x = Math.max(4, clientX - w - pad);
    if (y + h > window.innerHeight - 4) y = Math.max(4, clientY - h - pad);
    this.el.style.left = `${x}px`;
    this.el.style.top = `${y}px`;
  }

  hide(owner) {
    if (owner && owner !== this.owner) return;
    this.owner = null;
    this.el.hidden = true;
  }
}

export function escapeHTML(s) {
  return String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]);
}
