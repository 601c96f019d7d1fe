// a11y.test.js — an automated accessibility check of the main screens with axe-core
// (injected into the page): the chat with messages, the channel details panel, the
// workspace settings (admin) screen and the Privacy & AI page, in light and dark
// mode and on a phone-sized screen. Any violation axe rates serious or critical
// fails, naming the rule and the elements, and so does a lesser one fixed before.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { serverAndBrowser, teamOfTwo, openPage, apiOk } from './helpers.js';

const env = serverAndBrowser();
const AXE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Lesser rules once broken and fixed, which must stay fixed. */
const FIXED = ['landmark-unique'];

/** Runs axe on the page; the serious and critical violations (and FIXED), described. */
async function seriousViolations(page) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    // @ts-ignore injected above
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical' || FIXED.includes(v.id))
    .filter((v) => v.nodes.length);
}

async function check(page, screen) {
  const found = await seriousViolations(page);
  assert.deepEqual(found, [], `${screen}: ${found.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 5).join(', ')}`).join('\n')}`);
}

async function workspaceWithMessages() {
  const t = await teamOfTwo(env.server);
  const { alice, bob, general } = t;
  const m = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Welcome! The **plan** is in `docs/plan.md`, see https://example.com' }, alice.token);
  await apiOk(env.server, 'PUT', `/messages/${m.id}/reactions/tada`, undefined, bob.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'thanks @alice, reading it now' }, bob.token);
  await apiOk(env.server, 'PUT', `/messages/${m.id}/pin`, undefined, bob.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'a thread reply', thread_root: m.id }, bob.token);
  return t;
}

for (const [mode, opts] of [
  ['light', { colorScheme: 'light' }],
  ['dark', { colorScheme: 'dark' }],
  ['mobile', { viewport: { width: 390, height: 844 } }],
]) {
  test(`no serious or critical axe violations on the main screens (${mode})`, async () => {
    const { alice, ws, general } = await workspaceWithMessages();
    const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}`, ...opts });
    await a.locator('.channel-view .msg', { hasText: 'reading it now' }).waitFor();
    await check(a, 'main chat');

    await a.getByRole('button', { name: 'Channel details' }).click();
    await a.locator('.details-panel .member-row').first().waitFor();
    await a.locator('.details-panel .pin').first().waitFor();
    await check(a, 'channel details');

    await a.goto(`${env.server.url}/#/w/${ws.id}/settings`);
    await a.getByRole('heading', { name: 'Workspace settings' }).first().waitFor();
    await check(a, 'workspace settings');

    await a.goto(`${env.server.url}/#/w/${ws.id}/privacy`);
    await a.locator('article.purpose').first().waitFor();
    await a.locator('.history').waitFor();
    await check(a, 'privacy');
    assert.deepEqual(a.problems, []);
    await a.context().close();
  });
}
