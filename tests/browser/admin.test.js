// admin.test.js — the workspace's admin screens beyond members and invites, with two
// users side by side: bots (create — the token shown once and copied —, it works on
// Slack's Web API until it is revoked; a refusal of the server shown), message
// retention (what saving will delete is shown, and asked, before it is saved) and the
// erasure policy in the workspace settings; a channel's incoming webhooks (the URL
// shown once; what it posts appears live on another member's page as a bot's message;
// revoked) and its own retention in the channel details. A plain member reads the
// policies and is offered none of the controls, and the page asks the server for
// nothing it would refuse them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, api } from './helpers.js';

const env = serverAndBrowser();

/** Calls Slack's `auth.test` with a bot token, as a Slack SDK would. */
async function slackAuthTest(token) {
  const res = await fetch(`${env.server.apiUrl}/api/slack/auth.test`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  return res.json();
}

test('bots: create one (its token shown once, copied), it works until revoked; a refusal is shown', async () => {
  const { alice, ws } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/settings` });
  await a.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = a.getByRole('region', { name: 'Workspace settings' });
  const bots = page.getByRole('region', { name: 'Bots' });
  await bots.getByText('No bots yet.').waitFor();

  await bots.getByRole('textbox', { name: 'Bot name' }).fill('Deploy bot');
  await bots.getByRole('button', { name: 'Create bot' }).click();
  const token = bots.getByRole('textbox', { name: 'Token of Deploy bot' });
  await token.waitFor();
  const value = await token.inputValue();
  assert.match(value, /^xoxb-/);
  await bots.getByText('Shown once: copy it now.', { exact: false }).waitFor();
  await bots.getByRole('button', { name: 'Copy' }).click();
  await bots.getByRole('status').filter({ hasText: 'Copied' }).waitFor();
  assert.equal(await a.evaluate(() => navigator.clipboard.readText()), value, 'the token is on the clipboard');
  const row = bots.locator('tr', { hasText: 'Deploy bot' });
  await row.locator('.bot-tag', { hasText: 'BOT' }).waitFor();
  const listed = (await apiOk(env.server, 'GET', `/workspaces/${ws.id}/bots`, undefined, alice.token)).bots;
  assert.deepEqual(listed.map((b) => b.name), ['Deploy bot'], 'created on the server');
  const auth = await slackAuthTest(value);
  assert.equal(auth.ok, true, `the token works: ${JSON.stringify(auth)}`);
  await shot(a, 'settings-bot-token');

  // Done: the token is gone from the page, and a reload does not bring it back.
  await bots.getByRole('button', { name: 'Done' }).click();
  await token.waitFor({ state: 'detached' });
  await a.reload();
  await bots.locator('tr', { hasText: 'Deploy bot' }).waitFor();
  assert.ok(!(await a.content()).includes(value), 'the token is shown once only');

  // Revoke: asked, then its token stops working.
  await bots.getByRole('button', { name: 'Revoke Deploy bot' }).click();
  const dialog = a.getByRole('dialog', { name: 'Revoke Deploy bot?' });
  await dialog.getByText('Its token stops working at once', { exact: false }).waitFor();
  await dialog.getByRole('button', { name: 'Revoke bot' }).click();
  await bots.locator('tr', { hasText: 'Deploy bot' }).waitFor({ state: 'detached' });
  assert.equal((await slackAuthTest(value)).ok, false, 'the revoked token is refused');

  // A bot revoked elsewhere meanwhile: the server's refusal is shown in the dialog.
  const other = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/bots`, { name: 'Old bot' }, alice.token);
  await a.reload();
  await bots.locator('tr', { hasText: 'Old bot' }).waitFor();
  await apiOk(env.server, 'DELETE', `/workspaces/${ws.id}/bots/${other.bot.id}`, undefined, alice.token);
  await bots.getByRole('button', { name: 'Revoke Old bot' }).click();
  const again = a.getByRole('dialog', { name: 'Revoke Old bot?' });
  await again.getByRole('button', { name: 'Revoke bot' }).click();
  await again.getByRole('alert').filter({ hasText: 'it no longer exists' }).waitFor();
  await again.getByRole('button', { name: 'Cancel' }).click();

  assert.deepEqual(a.problems.filter((p) => !/404 \(Not Found\)/.test(p)), [], 'only the refused revocation failed');
  await a.context().close();
});

test('retention and erasure: the owner sees what saving deletes before it is saved; a member reads both and changes nothing', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/settings` });
  const page = a.getByRole('region', { name: 'Workspace settings' });
  const retention = page.getByRole('region', { name: 'Message retention' });
  await retention.getByText('Now: Messages and files are kept for ever.').waitFor();
  assert.equal(await retention.getByRole('radio', { name: 'For ever' }).isChecked(), true);

  // Choosing shows what it means, before anything is saved.
  await retention.getByRole('radio', { name: 'Delete those older than' }).check();
  await retention.getByRole('spinbutton', { name: 'Days to keep messages' }).fill('0');
  await retention.getByText('Enter a whole number of days from 1 to 36,500.').waitFor();
  await retention.getByRole('spinbutton', { name: 'Days to keep messages' }).fill('30');
  const cutoff = await a.evaluate(() => new Date(Date.now() - 30 * 86400000).toLocaleDateString([], { year: 'numeric', month: 'long', day: 'numeric' }));
  await retention.getByText(`Every message and file posted before ${cutoff} (30 days ago) is deleted`, { exact: false }).waitFor();
  await retention.getByText('This cannot be undone', { exact: false }).waitFor();
  assert.deepEqual(await apiOk(env.server, 'GET', `/workspaces/${ws.id}/retention`, undefined, alice.token), { days: null }, 'nothing saved yet');

  // Saving asks; Cancel leaves the policy as it was.
  await retention.getByRole('button', { name: 'Save retention' }).click();
  let confirm = a.getByRole('dialog', { name: 'Delete messages older than 30 days?' });
  await confirm.getByText(`posted before ${cutoff}`, { exact: false }).waitFor();
  await shot(a, 'settings-retention-confirm');
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await confirm.waitFor({ state: 'detached' });
  assert.deepEqual(await apiOk(env.server, 'GET', `/workspaces/${ws.id}/retention`, undefined, alice.token), { days: null });
  await retention.getByRole('button', { name: 'Save retention' }).click();
  confirm = a.getByRole('dialog', { name: 'Delete messages older than 30 days?' });
  await confirm.getByRole('button', { name: 'Delete after 30 days' }).click();
  await retention.getByText('Now: Messages and files older than 30 days are deleted.').waitFor();
  assert.deepEqual(await apiOk(env.server, 'GET', `/workspaces/${ws.id}/retention`, undefined, alice.token), { days: 30 });

  // The erasure policy.
  const erasure = page.getByRole('region', { name: 'When someone deletes their account' });
  await erasure.getByRole('radio', { name: 'Delete their messages' }).and(a.locator(':checked')).waitFor();
  await erasure.getByRole('radio', { name: 'Keep their messages, from “deleted user”' }).check();
  await erasure.getByRole('button', { name: 'Save erasure policy' }).click();
  await erasure.getByText('Now: Their messages stay where they are', { exact: false }).waitFor();
  assert.deepEqual(await apiOk(env.server, 'GET', `/workspaces/${ws.id}/erasure`, undefined, alice.token), { messages: 'keep' });
  await shot(a, 'settings-policies');

  // Bob, a member: no settings link; the page (opened by its address) reads both
  // policies and offers no control, and asks the server for nothing it would refuse.
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}` });
  await b.getByRole('textbox', { name: 'Message #general' }).waitFor();
  assert.equal(await b.getByRole('link', { name: 'Workspace settings' }).count(), 0);
  await b.evaluate((id) => { location.hash = `#/w/${id}/settings`; }, ws.id);
  const bPage = b.getByRole('region', { name: 'Workspace settings' });
  await bPage.getByRole('region', { name: 'Message retention' }).getByText('Now: Messages and files older than 30 days are deleted.').waitFor();
  await bPage.getByRole('region', { name: 'When someone deletes their account' }).getByText('Now: Their messages stay where they are', { exact: false }).waitFor();
  for (const control of ['radio', 'spinbutton', 'textbox', 'combobox']) {
    assert.equal(await bPage.getByRole(control).count(), 0, `no ${control} for a member`);
  }
  assert.equal(await bPage.getByRole('button').count(), 0, 'no button for a member');
  assert.equal(await bPage.getByRole('region', { name: 'Bots' }).count(), 0);

  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, [], 'no refused request');
  for (const p of [a, b]) await p.context().close();
});

test('channel details: an incoming webhook (URL shown once) posts live on another member’s page as a bot; revoked; the channel’s own retention', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/c/${general.id}` });
  await b.getByRole('textbox', { name: 'Message #general' }).waitFor();
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}` });
  await a.getByRole('textbox', { name: 'Message #general' }).waitFor();
  await a.getByRole('button', { name: 'Channel details' }).click();
  const panel = a.getByRole('region', { name: 'Channel details' });
  const hooks = panel.getByRole('region', { name: 'Incoming webhooks' });
  await hooks.getByText('No incoming webhooks.').waitFor();
  await hooks.getByRole('button', { name: 'Add incoming webhook' }).click();
  const urlBox = hooks.getByRole('textbox', { name: 'Webhook URL' });
  await urlBox.waitFor();
  const url = await urlBox.inputValue();
  assert.match(url, new RegExp(`/api/v1/hooks/${ws.id}/`));
  await hooks.getByText('Shown once: copy it now.', { exact: false }).waitFor();
  const listed = (await apiOk(env.server, 'GET', `/workspaces/${ws.id}/webhooks`, undefined, alice.token)).webhooks;
  assert.deepEqual(listed.map((w) => w.channel), [general.id], 'created for this channel');
  const row = hooks.locator(`[data-hook="${listed[0].id}"]`);
  await row.waitFor();
  await shot(a, 'channel-details-webhook');

  // An integration posts: Bob sees it at once, marked as a bot's message.
  const posted = await fetch(url.replace(/^http:\/\/[^/]+/, env.server.apiUrl), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text: 'Build 42 passed', username: 'CI' }),
  });
  assert.equal(posted.status, 200);
  const msg = b.locator('.msg', { hasText: 'Build 42 passed' });
  await msg.waitFor();
  await msg.locator('.msg-meta .bot-tag', { hasText: 'BOT' }).waitFor();
  const author = (await msg.locator('.msg-meta button.author').innerText()).trim();
  assert.match(author, /^webhook-general/);
  await shot(b, 'webhook-message');

  // Revoke: asked, then the URL is dead.
  await row.getByRole('button', { name: /^Revoke webhook / }).click();
  await a.getByRole('dialog', { name: /^Revoke / }).getByRole('button', { name: 'Revoke webhook' }).click();
  await hooks.getByText('No incoming webhooks.').waitFor();
  const dead = await fetch(url.replace(/^http:\/\/[^/]+/, env.server.apiUrl), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"text":"late"}' });
  assert.equal(dead.status, 404);

  // The channel's own retention, then back to the workspace's.
  const ret = panel.getByRole('region', { name: 'Message retention' });
  await ret.getByText('Messages and files are kept for ever. (the workspace’s policy)').waitFor();
  await ret.getByRole('combobox', { name: 'Keep this channel’s messages' }).selectOption('days');
  await ret.getByRole('spinbutton', { name: 'Days to keep this channel’s messages' }).fill('7');
  await ret.getByRole('button', { name: 'Save retention' }).click();
  const confirm = a.getByRole('dialog', { name: 'Delete messages of #general older than 7 days?' });
  await confirm.getByText('whatever the workspace’s policy says', { exact: false }).waitFor();
  await confirm.getByRole('button', { name: 'Delete after 7 days' }).click();
  await ret.getByText('Messages and files older than 7 days are deleted. (this channel’s own policy)').waitFor();
  assert.deepEqual(await apiOk(env.server, 'GET', `/channels/${general.id}/retention`, undefined, alice.token), { days: 7, set: true, effective_days: 7 });
  await ret.getByRole('combobox', { name: 'Keep this channel’s messages' }).selectOption('inherit');
  await ret.getByRole('button', { name: 'Save retention' }).click();
  await ret.getByText('Messages and files are kept for ever. (the workspace’s policy)').waitFor();
  assert.deepEqual(await apiOk(env.server, 'GET', `/channels/${general.id}/retention`, undefined, alice.token), { days: null, set: false, effective_days: null });

  // Bob, a member: reads the channel's retention, no control, no webhooks.
  await b.getByRole('button', { name: 'Channel details' }).click();
  const bPanel = b.getByRole('region', { name: 'Channel details' });
  await bPanel.getByRole('region', { name: 'Message retention' }).getByText('Messages and files are kept for ever.', { exact: false }).waitFor();
  assert.equal(await bPanel.getByRole('combobox').count(), 0);
  assert.equal(await bPanel.getByRole('button', { name: 'Save retention' }).count(), 0);
  assert.equal(await bPanel.getByRole('region', { name: 'Incoming webhooks' }).count(), 0);
  assert.equal((await api(env.server, 'GET', `/workspaces/${ws.id}/webhooks`, undefined, bob.token)).status, 403, 'the server refuses him too');

  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});
