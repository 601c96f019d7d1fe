// manage.test.js — managing channels and people, two users side by side: the channel
// details panel (add people, topic, rename, archive and unarchive, leave, the
// server's refusals shown), and the workspace settings screen (change a role, remove
// a member — whose other page drops the workspace at once —, create and revoke an
// invite). Controls show only to those allowed.

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

test('channel details: the member list and Remove where the server lists channel members, else it says so', async (t) => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const probe = await api(env.server, 'GET', `/channels/${general.id}/members`, undefined, alice.token);
  if (probe.status >= 400) {
    // Today's server: the panel says it cannot list them, and offers no Remove.
    const a = await openPage(env.browser, env.server, { user: alice });
    await a.getByRole('button', { name: 'Channel details' }).click();
    const panel = a.getByRole('region', { name: 'Channel details' });
    await panel.locator('.members-unlisted', { hasText: '2 members. This server does not list a channel’s members yet.' }).waitFor();
    assert.equal(await panel.getByRole('button', { name: /^Remove / }).count(), 0);
    assert.deepEqual(a.problems, []);
    await a.context().close();
    t.diagnostic('the server has no GET /channels/{ch}/members yet: checked that the panel says so');
    return;
  }
  const a = await openPage(env.browser, env.server, { user: alice });
  await a.getByRole('button', { name: 'Channel details' }).click();
  const panel = a.getByRole('region', { name: 'Channel details' });
  await panel.locator('.member-row', { hasText: `@${bob.username}` }).waitFor();
  await panel.getByRole('button', { name: 'Remove Bob from the channel' }).click();
  await panel.locator('.member-row', { hasText: `@${bob.username}` }).waitFor({ state: 'detached' });
  assert.ok(!(await channelsOf(bob, ws.id)).some((c) => c.id === general.id && c.is_member));
  await a.context().close();
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

// The server has no channel member list or removal yet (the report asks for
// GET /channels/{ch}/members → {members: [{id, username, display_name, joined_at}]} and
// DELETE /channels/{ch}/members/{user} → 204). Until it does, this test answers those
// two routes in the browser, to check the panel's list and Remove against that shape.
test('channel details: member list and Remove, against the proposed channel-members routes (stubbed in the browser)', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  let inChannel = [alice, bob];
  const deletes = [];
  const stub = (ctx) => ctx.route(new RegExp(`/api/v1/channels/${general.id}/members(/[^/]+)?$`), async (route) => {
    const req = route.request();
    if (req.method() === 'GET') {
      await route.fulfill({ json: { members: inChannel.map((u) => ({ id: u.id, username: u.username, display_name: u.display_name, joined_at: 1 })) } });
    } else if (req.method() === 'DELETE') {
      const user = req.url().split('/').pop();
      deletes.push(user);
      inChannel = inChannel.filter((u) => u.id !== user);
      await route.fulfill({ status: 204 });
    } else await route.continue();
  });
  const b = await openPage(env.browser, env.server, { user: bob, setup: stub });
  await b.getByRole('button', { name: 'Channel details' }).click();
  const bPanel = b.getByRole('region', { name: 'Channel details' });
  await bPanel.locator('.member-row', { hasText: `@${alice.username}` }).waitFor();
  assert.equal(await bPanel.getByRole('button', { name: /^Remove / }).count(), 0, 'a plain member removes nobody');

  const a = await openPage(env.browser, env.server, { user: alice, setup: stub });
  await a.getByRole('button', { name: 'Channel details' }).click();
  const panel = a.getByRole('region', { name: 'Channel details' });
  await panel.getByRole('heading', { name: 'Members (2)' }).waitFor();
  assert.equal(await panel.getByRole('button', { name: 'Remove Alice from the channel' }).count(), 0, 'not oneself');
  await panel.getByRole('button', { name: 'Remove Bob from the channel' }).click();
  await panel.locator('.member-row', { hasText: `@${bob.username}` }).waitFor({ state: 'detached' });
  await panel.getByRole('heading', { name: 'Members (1)' }).waitFor();
  assert.deepEqual(deletes, [bob.id]);
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await a.context().close();
  await b.context().close();
});
