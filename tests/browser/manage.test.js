// manage.test.js — managing channels and people, two users side by side: the channel
// details panel (add people, topic, rename, archive and unarchive, leave, the
// server's refusals shown; the member list as the server gives it, Remove), and the
// workspace settings screen (change a role, remove a member — whose other page drops
// the workspace at once —, create and revoke an invite, rename the workspace, which
// every open page of its members follows). Controls show only to those allowed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, api, signup } from './helpers.js';

const env = serverAndBrowser();

const channelsOf = async (user, ws) => (await apiOk(env.server, 'GET', `/workspaces/${ws}/channels`, undefined, user.token)).channels;

test('channel details: add people, topic, rename, archive and unarchive, leave', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const plans = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'plans', private: true }, alice.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${plans.id}` });
  const b = await openPage(env.browser, env.server, { user: bob });
  await b.getByRole('textbox', { name: 'Message #general' }).waitFor();
  await a.getByRole('textbox', { name: 'Message #plans' }).waitFor();

  // "1 member" in the header opens the panel.
  await a.locator('.ch-meta').getByRole('button', { name: '1 member' }).click();
  const panel = a.getByRole('region', { name: 'Channel details' });
  await panel.waitFor();
  await panel.getByRole('heading', { name: 'Members (1)' }).waitFor();

  // Add people: pick Bob from the workspace's members.
  await panel.getByRole('button', { name: 'Add people' }).click();
  await panel.getByRole('searchbox', { name: 'Add people' }).fill('bo');
  await panel.getByRole('button', { name: 'Add Bob to #plans' }).click();
  await a.locator('.ch-meta').getByRole('button', { name: '2 members' }).waitFor();
  assert.ok((await channelsOf(bob, ws.id)).some((c) => c.id === plans.id && c.is_member), 'Bob is in #plans');
  await b.locator('.sidebar .side-item', { hasText: 'plans' }).waitFor(); // live, on Bob's page

  // Topic and rename.
  await panel.getByRole('textbox', { name: 'Topic' }).fill('Q3 roadmap');
  await panel.getByRole('button', { name: 'Save topic' }).click();
  await a.locator('.ch-topic', { hasText: 'Q3 roadmap' }).waitFor();
  await panel.getByRole('textbox', { name: 'Channel name' }).fill('general');
  await panel.getByRole('button', { name: 'Rename' }).click();
  await panel.getByRole('alert').filter({ hasText: 'Could not rename: another channel already has that name' }).waitFor();
  await panel.getByRole('textbox', { name: 'Channel name' }).fill('plans-2027');
  await panel.getByRole('button', { name: 'Rename' }).click();
  await a.locator('.ch-title', { hasText: 'plans-2027' }).waitFor();
  await panel.getByRole('alert').waitFor({ state: 'hidden' });
  const ch = await apiOk(env.server, 'GET', `/channels/${plans.id}`, undefined, alice.token);
  assert.equal(ch.name, 'plans-2027');
  assert.equal(ch.topic, 'Q3 roadmap');
  await b.locator('.sidebar .side-item', { hasText: 'plans-2027' }).waitFor();
  await shot(a, 'channel-details');

  // Bob, a member but not the creator: topic and leave, no rename or archive.
  await b.locator('.sidebar .side-item', { hasText: 'plans-2027' }).click();
  await b.getByRole('button', { name: 'Channel details' }).click();
  const bPanel = b.getByRole('region', { name: 'Channel details' });
  await bPanel.getByRole('textbox', { name: 'Topic' }).waitFor();
  assert.equal(await bPanel.getByRole('button', { name: 'Rename' }).count(), 0);
  assert.equal(await bPanel.getByRole('button', { name: 'Archive' }).count(), 0);
  await bPanel.getByRole('button', { name: 'Leave' }).click();
  await b.locator('.sidebar .side-item', { hasText: 'plans-2027' }).waitFor({ state: 'detached' });
  await bPanel.waitFor({ state: 'detached' });
  assert.ok(!(await channelsOf(bob, ws.id)).some((c) => c.id === plans.id), 'Bob left the private channel');
  await a.locator('.ch-meta').getByRole('button', { name: '1 member' }).waitFor();

  // Archive, then unarchive.
  await panel.getByRole('button', { name: 'Archive' }).click();
  await a.getByRole('textbox', { name: 'Message #plans-2027' }).and(a.locator('[disabled]')).waitFor();
  await a.locator('.ch-meta .tag', { hasText: 'Archived' }).waitFor();
  assert.equal((await apiOk(env.server, 'GET', `/channels/${plans.id}`, undefined, alice.token)).archived, true);
  await panel.getByRole('button', { name: 'Unarchive' }).click();
  await a.locator('.ch-meta .tag', { hasText: 'Archived' }).waitFor({ state: 'detached' });
  assert.equal((await apiOk(env.server, 'GET', `/channels/${plans.id}`, undefined, alice.token)).archived, false);
  await a.getByRole('textbox', { name: 'Message #plans-2027' }).and(a.locator(':not([disabled])')).waitFor();

  // Esc closes the panel.
  await a.keyboard.press('Escape');
  await panel.waitFor({ state: 'detached' });
  assert.deepEqual(a.problems.filter((p) => !/409 \(Conflict\)/.test(p)), [], 'only the refused rename failed');
  assert.deepEqual(b.problems, []);
  await a.context().close();
  await b.context().close();
});

test('channel details: the member list is the server’s (who is in the channel, not the workspace)', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const carol = await signup(env.server, 'Carol');
  const inv = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/invites`, {}, alice.token);
  await apiOk(env.server, 'POST', `/invites/${inv.code}/accept`, undefined, carol.token);
  const plans = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'plans' }, alice.token);
  await apiOk(env.server, 'POST', `/channels/${plans.id}/join`, undefined, bob.token);
  // Carol is in the workspace (and #general), not in #plans.
  const listed = (await apiOk(env.server, 'GET', `/channels/${plans.id}/members`, undefined, alice.token)).members;
  assert.deepEqual(listed.map((m) => m.id).sort(), [alice.id, bob.id].sort());

  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${plans.id}` });
  await a.getByRole('textbox', { name: 'Message #plans' }).waitFor();
  await a.getByRole('button', { name: 'Channel details' }).click();
  const panel = a.getByRole('region', { name: 'Channel details' });
  await panel.getByRole('heading', { name: 'Members (2)' }).waitFor();
  await panel.locator('.member-row').nth(1).waitFor();
  const rows = await panel.locator('.member-row').evaluateAll((els) => els.map((el) => [el.dataset.user, el.querySelector('.member-name').textContent]));
  assert.deepEqual(rows, [
    [alice.id, `Alice @${alice.username} (you)`],
    [bob.id, `Bob @${bob.username}`],
  ]);
  assert.equal(await panel.locator('.members-unlisted').count(), 0);
  assert.equal(await panel.locator('.member-row', { hasText: `@${carol.username}` }).count(), 0, 'a workspace member outside the channel is not listed');
  // The creator may remove Bob, not herself (Leave is for that).
  await panel.getByRole('button', { name: 'Remove Bob from the channel' }).waitFor();
  assert.equal(await panel.getByRole('button', { name: 'Remove Alice from the channel' }).count(), 0);

  // Carol joins: the open list follows (member.joined) with her, from the server.
  await apiOk(env.server, 'POST', `/channels/${plans.id}/join`, undefined, carol.token);
  await panel.getByRole('heading', { name: 'Members (3)' }).waitFor();
  await panel.locator(`.member-row[data-user="${carol.id}"]`, { hasText: `Carol @${carol.username}` }).waitFor();
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('channel details: Remove takes someone out of the channel, on the server and on their page', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const plans = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'plans' }, alice.token);
  await apiOk(env.server, 'POST', `/channels/${plans.id}/join`, undefined, bob.token);

  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/c/${plans.id}` });
  await b.getByRole('textbox', { name: 'Message #plans' }).waitFor();
  await b.getByRole('button', { name: 'Channel details' }).click();
  const bPanel = b.getByRole('region', { name: 'Channel details' });
  await bPanel.getByRole('heading', { name: 'Members (2)' }).waitFor();
  await bPanel.locator('.member-row', { hasText: `@${alice.username}` }).waitFor();
  assert.equal(await bPanel.getByRole('button', { name: /^Remove / }).count(), 0, 'a plain member removes nobody');
  // His channel list (not the suggestions, which may offer #plans once he is out).
  const bPlans = b.locator(`.sidebar .side-item[data-channel="${plans.id}"]`);
  await bPlans.waitFor();

  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${plans.id}` });
  await a.getByRole('textbox', { name: 'Message #plans' }).waitFor();
  await a.getByRole('button', { name: 'Channel details' }).click();
  const panel = a.getByRole('region', { name: 'Channel details' });
  await panel.getByRole('heading', { name: 'Members (2)' }).waitFor();
  await panel.getByRole('button', { name: 'Remove Bob from the channel' }).click();
  await panel.locator('.member-row', { hasText: `@${bob.username}` }).waitFor({ state: 'detached' });
  await panel.getByRole('heading', { name: 'Members (1)' }).waitFor();
  await a.locator('.ch-meta').getByRole('button', { name: '1 member' }).waitFor();
  const listed = (await apiOk(env.server, 'GET', `/channels/${plans.id}/members`, undefined, alice.token)).members;
  assert.deepEqual(listed.map((m) => m.id), [alice.id], 'removed on the server');
  assert.ok(!(await channelsOf(bob, ws.id)).some((c) => c.id === plans.id && c.is_member));

  // Bob's page: #plans leaves his channels, and his open panel lists Alice alone.
  await bPlans.waitFor({ state: 'detached' });
  await bPanel.getByRole('heading', { name: 'Members (1)' }).waitFor();
  assert.equal(await bPanel.locator('.member-row', { hasText: `@${bob.username}` }).count(), 0);
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await a.context().close();
  await b.context().close();
});

test('workspace settings: change a role, remove a member (their page drops the workspace), revoke an invite', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const carol = await signup(env.server, 'Carol');
  await apiOk(env.server, 'POST', '/workspaces', { name: 'Carol home' }, carol.token);
  const inv = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/invites`, {}, alice.token);
  await apiOk(env.server, 'POST', `/invites/${inv.code}/accept`, undefined, carol.token);

  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}` });
  const c = await openPage(env.browser, env.server, { user: carol, hash: `#/w/${ws.id}` });
  await b.getByRole('textbox', { name: 'Message #general' }).waitFor();
  await c.getByRole('textbox', { name: 'Message #general' }).waitFor();
  assert.equal(await b.getByRole('link', { name: 'Workspace settings' }).count(), 0, 'not for members');

  const a = await openPage(env.browser, env.server, { user: alice });
  await a.getByRole('link', { name: 'Workspace settings' }).click();
  const page = a.getByRole('region', { name: 'Workspace settings' });
  await page.getByRole('heading', { name: 'Members (3)' }).waitFor();

  // The server's refusal is shown: the last owner cannot step down.
  await page.getByRole('combobox', { name: 'Role of Alice' }).selectOption('admin');
  await page.getByRole('alert').filter({ hasText: 'a workspace needs at least one owner' }).waitFor();
  assert.equal(await page.getByRole('combobox', { name: 'Role of Alice' }).inputValue(), 'owner');

  // Bob becomes an admin: his page offers him the settings at once.
  await page.getByRole('combobox', { name: 'Role of Bob' }).selectOption('admin');
  await b.getByRole('link', { name: 'Workspace settings' }).waitFor();
  const members = (await apiOk(env.server, 'GET', `/workspaces/${ws.id}/members`, undefined, alice.token)).members;
  assert.equal(members.find((m) => m.id === bob.id).role, 'admin');

  // Carol is removed: her open page drops the workspace at once.
  assert.equal(await c.locator('#ws-select option', { hasText: 'Acme' }).count(), 1);
  await page.getByRole('button', { name: 'Remove Carol' }).click();
  await a.getByRole('dialog', { name: 'Remove Carol?' }).getByRole('button', { name: 'Remove from workspace' }).click();
  await page.getByRole('heading', { name: 'Members (2)' }).waitFor();
  await c.locator('#ws-select option', { hasText: 'Acme' }).waitFor({ state: 'detached' });
  await c.waitForFunction(() => document.querySelector('#ws-select option:checked')?.textContent === 'Carol home');
  assert.ok(!(await apiOk(env.server, 'GET', '/workspaces', undefined, carol.token)).workspaces.some((w) => w.id === ws.id));

  // Invites: create one, revoke it.
  await page.getByRole('button', { name: 'Create invite' }).click();
  const link = await page.getByRole('textbox', { name: 'New invite link' }).inputValue();
  const code = decodeURIComponent(link.split('#/invite/')[1].split('/')[0]);
  const row = page.locator('tr', { hasText: code });
  await row.waitFor();
  await shot(a, 'workspace-settings');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await row.waitFor({ state: 'detached' });
  const left = (await apiOk(env.server, 'GET', `/workspaces/${ws.id}/invites`, undefined, alice.token)).invites;
  assert.ok(!left.some((i) => i.code === code), 'revoked on the server');
  const dave = await signup(env.server, 'Dave');
  assert.equal((await api(env.server, 'POST', `/invites/${code}/accept`, undefined, dave.token)).status, 404);

  assert.deepEqual(a.problems.filter((p) => !/409 \(Conflict\)/.test(p)), [], 'only the refused demotion failed');
  for (const p of [b, c]) assert.deepEqual(p.problems, []);
  for (const p of [a, b, c]) await p.context().close();
});

test('workspace settings: Rename, and every open page of its members follows', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const home = await apiOk(env.server, 'POST', '/workspaces', { name: 'Bob home' }, bob.token);
  // Bob has two pages open: one on Acme, one on his other workspace.
  const b1 = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}` });
  await b1.getByRole('textbox', { name: 'Message #general' }).waitFor();
  const b2 = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${home.id}` });
  await b2.getByRole('textbox', { name: 'Message #general' }).waitFor();
  assert.equal(await b2.locator('#ws-select option:checked').innerText(), 'Bob home');
  assert.equal(await b1.locator('.topbar-ws').innerText(), 'Acme');

  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/settings` });
  const page = a.getByRole('region', { name: 'Workspace settings' });
  const name = page.getByRole('textbox', { name: 'Workspace name' });
  await name.waitFor();
  assert.equal(await name.inputValue(), 'Acme');
  await name.fill('Acme Labs');
  await page.getByRole('button', { name: 'Rename' }).click();
  await page.locator('.lead', { hasText: 'Acme Labs' }).waitFor();
  await a.waitForFunction(() => document.querySelector('#ws-select option:checked')?.textContent === 'Acme Labs');
  assert.equal((await apiOk(env.server, 'GET', '/workspaces', undefined, alice.token)).workspaces.find((w) => w.id === ws.id).name, 'Acme Labs');
  await shot(a, 'workspace-rename');

  // workspace.updated: Bob's page on Acme (switcher, top bar, title) and his page on
  // the other workspace (switcher) follow, without a reload.
  await b1.waitForFunction(() => document.querySelector('#ws-select option:checked')?.textContent === 'Acme Labs');
  await b1.locator('.topbar-ws', { hasText: 'Acme Labs' }).waitFor();
  assert.match(await b1.title(), /Acme Labs/);
  await b2.waitForFunction((id) => document.querySelector(`#ws-select option[value="${id}"]`)?.textContent === 'Acme Labs', ws.id);
  assert.equal(await b2.locator('#ws-select option:checked').innerText(), 'Bob home', 'still on his own workspace');

  // A second rename reaches the field of a settings page left open (Bob is made admin).
  await apiOk(env.server, 'PATCH', `/workspaces/${ws.id}/members/${bob.id}`, { role: 'admin' }, alice.token);
  await b1.getByRole('link', { name: 'Workspace settings' }).click();
  const bName = b1.getByRole('region', { name: 'Workspace settings' }).getByRole('textbox', { name: 'Workspace name' });
  await bName.waitFor();
  assert.equal(await bName.inputValue(), 'Acme Labs');
  await name.fill('Acme Research');
  await page.getByRole('button', { name: 'Rename' }).click();
  await b1.waitForFunction(() => document.querySelector('#ws-name')?.value === 'Acme Research');
  assert.equal(await b1.locator('.settings-page .lead').innerText(), 'Acme Research');

  for (const p of [a, b1, b2]) assert.deepEqual(p.problems, []);
  for (const p of [a, b1, b2]) await p.context().close();
});
