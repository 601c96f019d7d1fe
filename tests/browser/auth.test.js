// auth.test.js — getting in through the UI on a fresh server: the first screen says
// how to begin, sign up, create a workspace, create a channel, invite someone by link,
// the invitee signs up through the link and lands in the workspace, opens a DM, signs out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, shot } from './helpers.js';

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
