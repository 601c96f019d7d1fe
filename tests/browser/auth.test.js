// auth.test.js — getting in through the UI on a fresh server: the first screen says
// how to begin, sign up, create a workspace, create a channel, invite someone by link,
// the invitee signs up through the link and lands in the workspace, opens a DM, signs out;
// a bad username says the rule it breaks, and form errors go once a field changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, shot, signup } from './helpers.js';

const env = serverAndBrowser();

async function signUpThroughUi(page, name, email) {
  const create = page.getByRole('button', { name: 'Create an account' });
  if (await create.isVisible()) await create.click();
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
}

test('sign up, create a workspace and a channel, invite by link, DM, sign out', async () => {
  const a = await openPage(env.browser, env.server);
  await a.getByRole('heading', { name: 'Getting started' }).waitFor();
  assert.match(await a.locator('.getting-started').innerText(), /first account becomes the server’s administrator/);
  await shot(a, 'first-screen');
  await signUpThroughUi(a, 'Ada Lovelace', 'ada@example.test');
  await a.getByRole('heading', { name: 'Welcome, Ada Lovelace' }).waitFor();
  assert.ok(await a.evaluate(() => !!localStorage.getItem('confab.token')), 'token kept in localStorage');
  await a.getByLabel('Workspace name').fill('Analytical Engines');
  await a.getByRole('button', { name: 'Create workspace' }).click();
  await a.getByRole('textbox', { name: 'Message #general' }).waitFor();

  // A private channel through the dialog.
  await a.getByRole('button', { name: 'Create channel' }).click();
  await a.getByRole('dialog').getByLabel('Name').fill('notes');
  await a.getByRole('dialog').getByLabel(/Private/).check();
  await a.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
  await a.getByRole('textbox', { name: 'Message #notes' }).waitFor();

  // An invite link.
  await a.getByRole('button', { name: 'Invite people' }).click();
  await a.getByRole('button', { name: 'Create invite link' }).click();
  const link = await a.getByLabel('Invite link').inputValue();
  assert.match(link, /#\/invite\//);
  await a.keyboard.press('Escape');
  await a.getByRole('dialog').waitFor({ state: 'detached' });

  // The invitee follows the link, signs up and lands in the workspace.
  const b = await openPage(env.browser, env.server, { hash: link.slice(link.indexOf('#')) });
  await b.getByText('You have been invited to a workspace').waitFor();
  await signUpThroughUi(b, 'Charles Babbage', 'charles@example.test');
  await b.getByRole('textbox', { name: 'Message #general' }).waitFor();
  assert.equal(await b.locator('#ws-select option:checked').innerText(), 'Analytical Engines');

  // Ada opens a DM with Charles; Charles sees it in his sidebar.
  await a.getByRole('button', { name: 'New direct message' }).click();
  await a.getByRole('dialog').getByLabel(/Charles Babbage/).check();
  await a.getByRole('dialog').getByRole('button', { name: 'Open conversation' }).click();
  const dmBox = a.getByRole('textbox', { name: 'Message Charles Babbage' });
  await dmBox.fill('Welcome, Charles!');
  await dmBox.press('Enter');
  await b.locator('.side-item', { hasText: 'Ada Lovelace' }).locator('.badge').waitFor();
  await shot(b, 'invitee');

  // Sign out returns to the sign-in screen and forgets the token.
  await b.getByRole('button', { name: 'Sign out' }).click();
  await b.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await b.evaluate(() => localStorage.getItem('confab.token')), null);
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await a.context().close();
  await b.context().close();
});

test('a bad username says what is allowed; form errors go once a field changes', async () => {
  const taken = await signup(env.server, 'Taken');
  const a = await openPage(env.browser, env.server);
  await a.getByRole('button', { name: 'Create an account' }).click();
  await a.getByLabel('Your name').fill('Grace Hopper');
  await a.getByLabel('Username').fill('Grace Hopper');
  await a.getByLabel('Email').fill('grace@example.test');
  await a.getByLabel('Password').fill('correct horse battery');
  let signups = 0;
  a.on('request', (r) => { if (r.url().endsWith('/auth/signup')) signups++; });
  await a.getByRole('button', { name: 'Create account' }).click();
  const error = a.getByRole('alert');
  await error.waitFor();
  const text = await error.innerText();
  assert.match(text, /2 to 32 lowercase letters \(a–z\), digits and _ \. -, starting with a letter or digit/);
  assert.match(text, /capitals are not allowed/);
  assert.match(text, /spaces are not allowed/);
  assert.equal(await a.getByLabel('Username').getAttribute('aria-invalid'), 'true');
  assert.equal(signups, 0, 'caught before asking the server');
  await shot(a, 'signup-bad-username');
  // Changing the field takes the error away.
  await a.getByLabel('Username').fill('grace');
  await error.waitFor({ state: 'hidden' });
  // The server's own refusal (here: a taken email) goes the same way.
  await a.getByLabel('Email').fill(taken.email);
  await a.getByRole('button', { name: 'Create account' }).click();
  await a.getByRole('alert').filter({ hasText: 'already exists' }).waitFor();
  await a.getByLabel('Email').fill('grace@example.test');
  await a.getByRole('alert').waitFor({ state: 'hidden' });
  await a.getByRole('button', { name: 'Create account' }).click();
  await a.getByRole('heading', { name: 'Welcome, Grace Hopper' }).waitFor();
  // The browser logs the refused sign-up itself; nothing else went wrong.
  assert.deepEqual(a.problems.filter((p) => !/status of 409 .*\/auth\/signup$/.test(p)), []);
  await a.context().close();
});
