// session.test.js — where sessions begin and end: an invite link asks before joining
// (signed in, and after signing in), naming the workspace the server says the code
// leads to, never the link's own text, and saying so when a code does not work; a session that ended while a text was unsent
// does not hand that text, or a draft, to the next user of the browser; a WebSocket
// closed with 4001 lands on the sign-in screen instead of reconnecting.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, signup, signInThroughUi, storageKeys } from './helpers.js';

const env = serverAndBrowser();

const workspacesOf = async (user) => (await apiOk(env.server, 'GET', '/workspaces', undefined, user.token)).workspaces;

test('an invite link asks before joining: Cancel joins nothing, Join joins', async () => {
  const { alice, ws } = await teamOfTwo(env.server);
  const inv = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/invites`, {}, alice.token);
  const carol = await signup(env.server, 'Carol');
  await apiOk(env.server, 'POST', '/workspaces', { name: 'Carol home' }, carol.token);
  const hash = `#/invite/${inv.code}/${encodeURIComponent('Acme')}`;

  const c = await openPage(env.browser, env.server, { user: carol, hash });
  const dlg = c.getByRole('dialog', { name: 'Join workspace?' });
  // The dialog says "Looking up the invite…" until the server has named the workspace.
  await dlg.getByText(/invited to join the workspace Acme/).waitFor();
  assert.doesNotMatch(await dlg.innerText(), /null|undefined/);
  await shot(c, 'invite-confirm');
  // Nothing joined while the question is open.
  assert.deepEqual((await workspacesOf(carol)).map((w) => w.name), ['Carol home']);
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  await c.getByRole('textbox', { name: 'Message #general' }).waitFor();
  assert.equal(await c.locator('#ws-select option:checked').innerText(), 'Carol home');
  assert.deepEqual((await workspacesOf(carol)).map((w) => w.name), ['Carol home'], 'Cancel joins nothing');

  // The same link again, and Join.
  await c.evaluate((h) => { location.hash = h; }, hash);
  await dlg.waitFor();
  await dlg.getByRole('button', { name: 'Join' }).click();
  await dlg.waitFor({ state: 'detached' });
  await c.waitForFunction(() => document.querySelector('#ws-select option:checked')?.textContent === 'Acme');
  await c.getByRole('textbox', { name: 'Message #general' }).waitFor();
  assert.deepEqual((await workspacesOf(carol)).map((w) => w.name).sort(), ['Acme', 'Carol home']);

  // Someone signed out follows a link, signs in, and is asked too.
  const dave = await signup(env.server, 'Dave');
  const d = await openPage(env.browser, env.server, { hash });
  await d.getByText('You have been invited to a workspace').waitFor();
  await signInThroughUi(d, dave);
  const ddlg = d.getByRole('dialog', { name: 'Join workspace?' });
  await ddlg.waitFor();
  assert.deepEqual(await workspacesOf(dave), [], 'signing in did not join');
  await ddlg.getByRole('button', { name: 'Join' }).click();
  await d.getByRole('textbox', { name: 'Message #general' }).waitFor();
  assert.deepEqual((await workspacesOf(dave)).map((w) => w.name), ['Acme']);

  assert.deepEqual(c.problems, []);
  assert.deepEqual(d.problems, []);
  await c.context().close();
  await d.context().close();
});

test('the invite dialog names the workspace the server says (not the link), and says when a code does not work', async () => {
  const { alice, ws } = await teamOfTwo(env.server);
  const inv = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/invites`, {}, alice.token);
  const once = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/invites`, { max_uses: 1 }, alice.token);
  const guestInv = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/invites`, { role: 'guest' }, alice.token);
  await apiOk(env.server, 'POST', `/invites/${once.code}/accept`, undefined, (await signup(env.server, 'Dave')).token);
  // Renamed after the links went out: they still say "Acme".
  await apiOk(env.server, 'PATCH', `/workspaces/${ws.id}`, { name: 'Acme Labs' }, alice.token);
  const carol = await signup(env.server, 'Carol');
  const home = await apiOk(env.server, 'POST', '/workspaces', { name: 'Carol home' }, carol.token);

  const c = await openPage(env.browser, env.server, { user: carol, hash: `#/invite/${inv.code}/${encodeURIComponent('Acme')}` });
  const dlg = c.getByRole('dialog', { name: 'Join workspace?' });
  const ask = async (hash) => {
    await c.evaluate((h) => { location.hash = h; }, hash);
    await dlg.waitFor();
  };
  const close = async (label) => {
    await dlg.getByRole('button', { name: label, exact: true }).click();
    await dlg.waitFor({ state: 'detached' });
  };
  // The link's name is stale: the dialog has the server's.
  await dlg.locator('.invite-ws', { hasText: 'Acme Labs' }).waitFor();
  assert.match(await dlg.innerText(), /invited to join the workspace Acme Labs\./);
  await dlg.getByRole('button', { name: 'Join', exact: true }).and(c.locator(':enabled')).waitFor();
  await close('Cancel');

  // A link that lies about the name.
  await ask(`#/invite/${inv.code}/${encodeURIComponent('Your Bank')}`);
  await dlg.locator('.invite-ws', { hasText: 'Acme Labs' }).waitFor();
  assert.doesNotMatch(await dlg.innerText(), /Your Bank/);
  await close('Cancel');

  // A link with no name (as the client now writes them), and a guest invite.
  await ask(`#/invite/${guestInv.code}`);
  await dlg.locator('.invite-to', { hasText: 'Acme Labs as a guest.' }).waitFor();
  assert.doesNotMatch(await dlg.innerText(), /null|undefined/);
  await close('Cancel');

  // A code that does not exist, and one used up: said plainly, nothing to join.
  await ask(`#/invite/not-a-real-code/${encodeURIComponent('Acme')}`);
  await dlg.getByRole('alert').filter({ hasText: 'That invite does not exist (it may have been revoked).' }).waitFor();
  assert.match(await dlg.innerText(), /This invite link does not work/);
  assert.doesNotMatch(await dlg.innerText(), /Acme/);
  assert.equal(await dlg.getByRole('button', { name: 'Join', exact: true }).count(), 0);
  await shot(c, 'invite-invalid');
  await close('Close');
  await ask(`#/invite/${once.code}`);
  await dlg.getByRole('alert').filter({ hasText: 'That invite has expired or been used up.' }).waitFor();
  assert.equal(await dlg.getByRole('button', { name: 'Join', exact: true }).count(), 0);
  await close('Close');
  assert.deepEqual((await workspacesOf(carol)).map((w) => w.name), ['Carol home'], 'nothing joined');

  // Join, from the nameless link; the same link again says she is in it already.
  await ask(`#/invite/${inv.code}`);
  await dlg.locator('.invite-ws', { hasText: 'Acme Labs' }).waitFor();
  await close('Join');
  await c.waitForFunction(() => document.querySelector('#ws-select option:checked')?.textContent === 'Acme Labs');
  await c.evaluate((h) => { location.hash = h; }, `#/w/${home.id}`);
  await c.waitForFunction(() => document.querySelector('#ws-select option:checked')?.textContent === 'Carol home');
  await ask(`#/invite/${inv.code}/${encodeURIComponent('Acme')}`);
  await dlg.locator('.invite-to', { hasText: 'You are already a member of Acme Labs.' }).waitFor();
  await close('Open Acme Labs');
  await c.waitForFunction(() => document.querySelector('#ws-select option:checked')?.textContent === 'Acme Labs');
  assert.deepEqual((await workspacesOf(carol)).map((w) => w.name).sort(), ['Acme Labs', 'Carol home']);

  // Only the dead codes' look-ups failed (404, 410).
  assert.deepEqual(c.problems.filter((p) => !/status of (404|410)\b.*\/api\/v1\/invites\//.test(p)), []);
  assert.equal(c.problems.length, 2);
  await c.context().close();
});

test('a second user signing in on the same browser does not send the first user’s pending text or see their draft', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  // The page's WebSocket goes through this route: passed to the server, or (blocked)
  // answered by nobody, so a text stays pending.
  let block = false;
  const routes = [];
  const a = await openPage(env.browser, env.server, {
    user: alice,
    setup: (ctx) => ctx.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
      routes.push(ws);
      if (!block) ws.connectToServer();
    }),
  });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  await a.locator('.channel-start').waitFor();
  block = true;
  await routes[routes.length - 1].close({ code: 4000, reason: 'test: fell behind' });
  await a.locator('.banner', { hasText: 'Offline' }).waitFor();
  await box.fill('alice pending text');
  await box.press('Enter');
  await a.locator('.msg.pending', { hasText: 'alice pending text' }).waitFor();
  await box.fill('alice draft text');
  await a.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith('confab.draft.')));
  assert.equal((await storageKeys(a, 'confab.pending')).length, 1, 'the pending text is kept while the session lives');

  // Alice's session ends while her text is unsent; the tab is reloaded later.
  await apiOk(env.server, 'POST', '/auth/logout_all', undefined, alice.token);
  block = false;
  await a.reload();
  await a.getByRole('heading', { name: 'Sign in' }).waitFor();
  await a.locator('.session-ended').waitFor();
  assert.deepEqual(await storageKeys(a, 'confab.pending'), [], 'pending texts cleared');
  assert.deepEqual(await storageKeys(a, 'confab.draft'), [], 'drafts cleared');

  // Bob signs in on the same browser.
  await signInThroughUi(a, bob);
  await box.waitFor();
  assert.equal(await box.inputValue(), '', 'no draft of Alice');
  assert.equal(await a.locator('.msg', { hasText: 'alice pending text' }).count(), 0);
  await box.fill('bob is here');
  await box.press('Enter');
  await a.locator('.msg:not(.pending)', { hasText: 'bob is here' }).waitFor();
  const hist = await apiOk(env.server, 'GET', `/channels/${general.id}/messages?limit=50`, undefined, bob.token);
  assert.deepEqual(hist.messages.map((m) => m.text), ['bob is here'], 'nothing of Alice was sent');
  assert.deepEqual(a.problems.filter((p) => !/WebSocket|401|Failed to load resource/.test(p)), []);
  await a.context().close();
});

test('a WebSocket closed with 4001 lands on the sign-in screen and does not reconnect', async () => {
  const { alice } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  await a.locator('.channel-start').waitFor();
  await box.fill('half-written thought');
  await a.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith('confab.draft.')));
  let sockets = 0;
  a.on('websocket', () => sockets++);
  // Signed out everywhere (e.g. from another device): the server closes the socket with 4001.
  await apiOk(env.server, 'POST', '/auth/logout_all', undefined, alice.token);
  await a.getByRole('heading', { name: 'Sign in' }).waitFor();
  await a.locator('.session-ended', { hasText: 'Your session has ended' }).waitFor();
  await shot(a, 'session-ended');
  assert.equal(await a.evaluate(() => localStorage.getItem('confab.token')), null, 'token forgotten');
  assert.deepEqual(await storageKeys(a, 'confab.draft'), [], 'draft cleared');
  await a.waitForTimeout(1500);
  assert.equal(sockets, 0, 'no reconnect after 4001');
  assert.deepEqual(a.problems.filter((p) => !/WebSocket|401|Failed to load resource/.test(p)), []);
  await a.context().close();
});
