// reset.js — the page of a one-time password-reset link (`confab user
// reset-password EMAIL` prints it): the token is in the fragment, which browsers never
// send to a server or in a Referer; the new password goes to POST
// /api/v1/auth/reset_password with it.

const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
const form = document.getElementById('reset');
const error = document.getElementById('error');
const fail = (text) => {
  error.textContent = text;
  error.hidden = false;
};

if (!token) fail('This link has no token: ask your operator for a new one.');

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.hidden = true;
  const password = document.getElementById('password').value;
  if (password !== document.getElementById('again').value) return fail('The two passwords differ.');
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const r = await fetch('/api/v1/auth/reset_password', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token, new_password: password }),
    });
    if (r.status === 204) {
      history.replaceState(null, '', location.pathname);
      form.hidden = true;
      document.getElementById('done').hidden = false;
      return;
    }
    const body = await r.json().catch(() => ({}));
    const code = body.error && body.error.code;
    fail(code === 'invalid_credentials'
      ? 'This link is invalid, used or expired: ask your operator for a new one.'
      : (body.error && body.error.message) || `The server answered ${r.status}.`);
  } catch {
    fail('The server could not be reached.');
  }
  button.disabled = false;
});
