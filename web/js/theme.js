// Sets the theme before the first paint, so a dark page does not flash
// white. A classic script loaded from the head, not inline: the page's
// Content-Security-Policy runs no inline script.
try {
  const t = localStorage.getItem('ember.theme');
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
} catch (e) {
  /* storage may be disabled */
}
