// views/auth.js — the screens before the chat: sign in, sign up (with an optional
// invite), and the welcome screen for someone with no workspace yet. A username the
// server would refuse is caught before sending, with the rule it breaks; an error
// goes as soon as a field changes (main.js).

import { icon } from '../icons.js';
import { h, clear, field } from '../dom.js';
import * as api from '../api.js';
import { workspaceForms } from './dialogs.js';

export function mountAuth(root, { invite, notice, onSignedIn, mode: initialMode }) {
  let mode = initialMode || (invite ? 'signup' : 'signin');
  const render = () => {
    const err = h('p.error', { role: 'alert', hidden: true });
    const email = h('input', { type: 'email', required: true, autocomplete: 'email' });
    const password = h('input', { type: 'password', required: true, minlength: mode === 'signup' ? 8 : null, autocomplete: mode === 'signup' ? 'new-password' : 'current-password' });
    const display = h('input', { type: 'text', required: true, autocomplete: 'name', maxlength: 80 });
    // Checked by usernameProblem, not by a pattern attribute, whose browser bubble
    // says only "match the requested format".
    const username = h('input', { type: 'text', autocomplete: 'username', placeholder: 'optional, e.g. ada', spellcheck: 'false', autocapitalize: 'none' });
    const inviteInput = h('input', { type: 'text', value: invite || '', placeholder: 'optional', autocomplete: 'off' });
    const submit = h('button.btn.primary.wide', { type: 'submit' }, mode === 'signup' ? 'Create account' : 'Sign in');
    const form = h('form.stack', {
      on: {
        submit: async (e) => {
          e.preventDefault();
          err.hidden = true;
          username.removeAttribute('aria-invalid');
          const badName = mode === 'signup' ? usernameProblem(username.value.trim()) : null;
          if (badName) {
            err.textContent = badName;
            err.hidden = false;
            username.setAttribute('aria-invalid', 'true');
            username.focus();
            return;
          }
          submit.disabled = true;
          try {
            let r;
            let joined = false;
            if (mode === 'signup') {
              const body = { email: email.value.trim(), password: password.value, display_name: display.value.trim() };
              if (username.value.trim()) body.username = username.value.trim();
              const code = extractCode(inviteInput.value);
              if (code) body.invite = code;
              joined = !!code;
              r = await api.auth.signup(body);
            } else {
              r = await api.auth.login({ email: email.value.trim(), password: password.value });
            }
            api.setToken(r.token);
            await onSignedIn(r.user, { joined });
          } catch (e2) {
            err.hidden = false;
            err.textContent = messageFor(e2);
            if (/^username:/.test(e2.message || '')) username.setAttribute('aria-invalid', 'true');
            submit.disabled = false;
          }
        },
      },
    });
    if (mode === 'signup') form.append(field('Your name', display), field('Username', username, `Used for @mentions: ${USERNAME_RULE} Leave empty to derive it from your name.`));
    form.append(field('Email', email), field('Password', password, mode === 'signup' ? 'At least 8 characters.' : null));
    if (mode === 'signup') form.append(field('Invite code', inviteInput, 'Needed if this server is invite-only; joins you to the workspace.'));
    form.append(err, submit);
    const switcher = mode === 'signup'
      ? h('p.center', 'Already have an account? ', h('button.link', { type: 'button', on: { click: () => { mode = 'signin'; render(); } } }, 'Sign in'))
      : h('p.center', 'New here? ', h('button.link', { type: 'button', on: { click: () => { mode = 'signup'; render(); } } }, 'Create an account'));
    clear(root).append(
      h('main.auth-screen',
        h('div.auth-card',
          h('div.brand', h('span.logo', icon('thread', 22)), h('span', 'Confab')),
          h('h1', mode === 'signup' ? 'Create your account' : 'Sign in'),
          notice ? h('p.notice.session-ended', { role: 'status' }, notice) : null,
          invite ? h('p.notice', mode === 'signup' ? 'You have been invited to a workspace. Creating your account with the invite code below joins it.' : 'You have been invited to a workspace. Sign in, and you will be asked whether to join it.') : null,
          form,
          switcher),
        h('aside.getting-started', { 'aria-label': 'Getting started' },
          h('h2', 'Getting started'),
          h('ol',
            h('li', h('strong', 'Create an account. '), 'On a new server the first account becomes the server’s administrator.'),
            h('li', h('strong', 'Create a workspace '), 'for your team — you become its owner and get a #general channel.'),
            h('li', h('strong', 'Invite your team '), 'with an invite link from the sidebar.'),
            h('li', h('strong', 'Decide about AI. '), 'Nothing is used for training unless an owner opts in under “Privacy & AI”.')))),
    );
    (mode === 'signup' ? display : email).focus();
  };
  render();
}

export function extractCode(raw) {
  const v = (raw || '').trim();
  if (!v) return '';
  const m = /invite\/([^/?#\s]+)/.exec(v);
  return m ? decodeURIComponent(m[1]) : v;
}

// The server's rule (confab_core::validate::username), said for people.
const USERNAME_RULE = '2 to 32 lowercase letters (a–z), digits and _ . -, starting with a letter or digit.';

/** What is wrong with a chosen username, or null if it is fine (or left empty). */
export function usernameProblem(name) {
  if (!name) return null;
  if (/^[a-z0-9][a-z0-9_.-]{1,31}$/.test(name)) return null;
  const hints = [];
  if (name.length < 2 || name.length > 32) hints.push(`it has ${name.length} character${name.length === 1 ? '' : 's'}`);
  if (/[A-Z]/.test(name)) hints.push('capitals are not allowed');
  if (!/^[a-zA-Z0-9]/.test(name)) hints.push('it must start with a letter or digit');
  const other = [...new Set(name.replace(/[a-zA-Z0-9_.-]/g, ''))].map((c) => (c === ' ' ? 'spaces' : `“${c}”`));
  if (other.length) hints.push(`${other.join(', ')} ${other.length === 1 && other[0] !== 'spaces' ? 'is' : 'are'} not allowed`);
  return `A username is ${USERNAME_RULE}${hints.length ? ` Here: ${hints.join('; ')}.` : ''}`;
}

function messageFor(e) {
  if (e.code === 'invalid_field' && /^username:/.test(e.message || '')) return `A username is ${USERNAME_RULE}`;
  switch (e.code) {
    case 'invalid_credentials':
      return 'Wrong email or password.';
    case 'email_taken':
      return 'An account with this email already exists. Sign in instead.';
    case 'signup_closed':
      return 'This server is invite-only: paste an invite code to sign up.';
    case 'rate_limited':
      return `Too many attempts. Try again in ${e.retryAfter || 'a few'} seconds.`;
    default:
      return e.message;
  }
}

export function mountWelcome(root, { me, onSignOut }) {
  clear(root).append(
    h('main.auth-screen',
      h('div.auth-card.wide',
        h('div.brand', h('span.logo', icon('thread', 22)), h('span', 'Confab')),
        h('h1', `Welcome, ${me.display_name}`),
        h('p', 'You are not in a workspace yet. Create one for your team, or join one with an invite link.'),
        workspaceForms(),
        h('p.center', h('button.link', { type: 'button', on: { click: onSignOut } }, 'Sign out')))),
  );
}
