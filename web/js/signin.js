// The token dialog: a modal <dialog> (focus stays inside, Esc closes it,
// screen readers announce it by its title and explanation) that asks for
// the token a server started with --auth-token-file needs. It closes only
// on a token the server accepts, or when the person cancels; a refused
// token shows the server's message and the dialog asks again.

import { tokenProblem } from './auth.js';

export class SignIn {
  // dialog: the <dialog id="auth-dialog"> of index.html.
  constructor(dialog) {
    this.dialog = dialog;
    this.form = dialog.querySelector('form');
    this.input = dialog.querySelector('#auth-token');
    this.error = dialog.querySelector('#auth-error');
    this.submit = dialog.querySelector('button[type="submit"]');
    this.pending = null; // { resolve, verify } while the dialog is open
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.check();
    });
    dialog.querySelector('#auth-cancel').addEventListener('click', () => this.finish(null));
    // Esc: the browser closes the dialog; answer the waiting calls too.
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      this.finish(null);
    });
  }

  // Shows the dialog. error: the server's message about a token it refused
  // ('' on a first visit). verify(token) resolves with null when the token
  // is usable, else with an error whose message the server wrote. Resolves
  // with the accepted token, or null when the person cancels.
  ask({ error = '', verify }) {
    if (this.pending) return this.pending.promise;
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    this.pending = { resolve, verify, promise };
    this.input.value = '';
    this.busy(false);
    this.showError(error);
    if (!this.dialog.open) this.dialog.showModal();
    this.input.focus();
    return promise;
  }

  async check() {
    const p = this.pending;
    if (!p || this.submit.disabled) return;
    const tok = this.input.value.trim();
    const problem = tokenProblem(tok);
    if (problem) {
      this.showError(problem);
      this.input.focus();
      return;
    }
    this.busy(true);
    let err;
    try {
      err = await p.verify(tok);
    } catch (e) {
      err = e;
    }
    if (this.pending !== p) return; // cancelled while checking
    this.busy(false);
    if (!err) {
      this.finish(tok);
      return;
    }
    this.showError(err.message || String(err));
    this.input.select();
    this.input.focus();
  }

  finish(tok) {
    const p = this.pending;
    this.pending = null;
    this.input.value = '';
    this.showError('');
    this.busy(false);
    if (this.dialog.open) this.dialog.close();
    if (p) p.resolve(tok);
  }

  busy(on) {
    this.submit.disabled = on;
    this.input.readOnly = on;
    this.submit.textContent = on ? 'Checking…' : 'Sign in';
    this.dialog.setAttribute('aria-busy', String(on));
  }

  showError(msg) {
    this.error.textContent = msg;
    this.error.hidden = !msg;
    this.input.setAttribute('aria-invalid', msg ? 'true' : 'false');
  }
}
