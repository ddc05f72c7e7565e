// A context menu: a floating list of actions at a point, for a frame of
// the flame graph or a row of the table. One menu for the page; opening it
// again moves it. Arrow keys move between items, Enter runs one, Esc, a
// click elsewhere or scrolling closes it and gives the focus back.

import { escapeHTML } from './tooltip.js';

export class Menu {
  constructor() {
    this.el = document.createElement('div');
    this.el.className = 'context-menu';
    this.el.setAttribute('role', 'menu');
    this.el.hidden = true;
    document.body.append(this.el);
    this.items = [];
    this.returnFocus = null;
    this.el.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-k]');
      if (b) this.run(Number(b.dataset.k));
    });
    this.el.addEventListener('keydown', (e) => this.onKey(e));
    this.onOutside = (e) => {
      if (!this.el.contains(e.target)) this.close(false);
    };
    this.onScroll = () => this.close(false);
  }

  // items: [{ label, run(), hint }], a title for the menu (the frame's
  // name), shown at clientX, clientY.
  open(title, items, clientX, clientY) {
    this.returnFocus = document.activeElement;
    this.items = items;
    this.el.innerHTML =
      `<div class="context-title" title="${escapeHTML(title)}">${escapeHTML(title)}</div>` +
      items
        .map(
          (it, k) =>
            `<button type="button" role="menuitem" tabindex="-1" data-k="${k}">${escapeHTML(it.label)}${it.hint ? `<span class="hint">${escapeHTML(it.hint)}</span>` : ''}</button>`,
        )
        .join('');
    this.el.hidden = false;
    const w = this.el.offsetWidth;
    const h = this.el.offsetHeight;
    const x = Math.max(4, Math.min(clientX, window.innerWidth - w - 4));
    const y = Math.max(4, clientY + h > window.innerHeight - 4 ? clientY - h : clientY);
    this.el.style.left = `${x}px`;
    this.el.style.top = `${y}px`;
    this.focus(0);
    // After the event that opened the menu has finished.
    setTimeout(() => {
      document.addEventListener('pointerdown', this.onOutside, true);
      window.addEventListener('scroll', this.onScroll, true);
    }, 0);
  }

  get isOpen() {
    return !this.el.hidden;
  }

  focus(k) {
    const buttons = this.el.querySelectorAll('button[data-k]');
    if (!buttons.length) return;
    const n = buttons.length;
    buttons[((k % n) + n) % n].focus();
  }

  current() {
    const b = document.activeElement && document.activeElement.closest && document.activeElement.closest('button[data-k]');
    return b && this.el.contains(b) ? Number(b.dataset.k) : -1;
  }

  onKey(e) {
    const k = this.current();
    if (e.key === 'ArrowDown') this.focus(k + 1);
    else if (e.key === 'ArrowUp') this.focus(k - 1);
    else if (e.key === 'Home') this.focus(0);
    else if (e.key === 'End') this.focus(this.items.length - 1);
    else if (e.key === 'Escape' || e.key === 'Tab') this.close(true);
    else return;
    e.preventDefault();
    e.stopPropagation();
  }

  run(k) {
    const it = this.items[k];
    this.close(true);
    if (it) it.run();
  }

  // refocus: give the focus back to where it was (closing by keyboard).
  close(refocus) {
    if (this.el.hidden) return;
    this.el.hidden = true;
    document.removeEventListener('pointerdown', this.onOutside, true);
    window.removeEventListener('scroll', this.onScroll, true);
    if (refocus && this.returnFocus && this.returnFocus.focus) this.returnFocus.focus();
  }
}

// Puts text on the clipboard; falls back to a selected text area where
// the clipboard API is refused (a page served over plain HTTP from another
// host). Resolves true when copied.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}
