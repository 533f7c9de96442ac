// Drives VS Code (code-server) in headless chromium like a user, and checks what the user sees.
// Started by run.sh, which sets: CS_URL, WORKSPACE, WORKSPACE_SETTINGS, OUT_DIR, CHROMIUM, NODE_MODULES.
// Every wait is on something visible in the UI (with a timeout); the one fixed pause is in the
// "automatic ghost text off" check, which must show that nothing appears.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through run.sh)`);
  return value;
};
const require = createRequire(path.join(env('NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');

const OUT = env('OUT_DIR');
const SUGGEST_TIMEOUT = 90_000; // first request: Lean start + model generation on CPU
const SETUP_TIMEOUT = 15 * 60_000; // first start: a virtual environment with torch and transformers

// What Lean accepts at `monotone_step'`'s `sorry` (tests/fixtures/examples_script.json): the model's
// closing `exact h (Nat.le_succ _/n)`, and `apply h`; the automation tactics all fail there.
const VERIFIED_AT_MONOTONE = new Set([
  'Try this: exact h (Nat.le_succ _) (closes goal)',
  'Try this: exact h (Nat.le_succ n) (closes goal)',
  'Try this: apply h (1 goal left)',
]);

let step = 'start';
const log = (message) => console.log(`[ui] ${message}`);
function check(condition, message) {
  if (!condition) throw new Error(`${step}: ${message}`);
}

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const consoleLines = [];
page.on('console', (message) => consoleLines.push(message.text()));

try {
  await run();
  log('PASS');
} catch (error) {
  await page.screenshot({ path: path.join(OUT, 'failure.png') }).catch(() => {});
  console.error(`[ui] FAIL ${error instanceof Error ? error.stack : error}`);
  console.error('[ui] browser console (last 30 lines):\n' + consoleLines.slice(-30).join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}

async function run() {
  step = 'open the workspace';
  await page.goto(`${env('CS_URL')}/?folder=${encodeURIComponent(env('WORKSPACE'))}`);
  await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
  await page.waitForSelector('.statusbar', { timeout: 30_000 });

  step = 'open Examples.lean';
  await runQuickOpen('Examples.lean');
  await page.waitForSelector('.monaco-editor .view-lines', { timeout: 30_000 });
  await page.waitForSelector('.tab.active >> text=Examples.lean', { timeout: 30_000 });

  step = 'first start: the extension sets up its own server environment, with a progress notification';
  // No llmstep.server.pythonPath/command: the .vsix's wheel goes into a new virtual environment.
  const setup = page.locator('.notification-toast', { hasText: 'llmstep: setting up the server' });
  await setup.first().waitFor({ timeout: 60_000 });
  const setupLabel = await waitForStatus((label) => label.startsWith('llmstep: setting up'), 10_000)
    .catch(() => 'gone by'); // the status item may already have moved on when the toast is seen
  log(`status while setting up: ${JSON.stringify(setupLabel)}`);
  await page.screenshot({ path: path.join(OUT, 'vscode-setup.png') });
  const setupText = await setup.first().locator('.notification-list-item-message').textContent();
  log(`setup notification: ${JSON.stringify(visibleText(setupText))}`);
  const started = Date.now();

  step = 'status bar shows the server ready';
  // installing → starting → loading model → ready; the aria label carries the state.
  const status = page.locator('.statusbar-item', { hasText: 'llmstep' });
  await status.first().waitFor({ timeout: 60_000 });
  await waitForStatus((label) => label === 'llmstep: ready', SETUP_TIMEOUT);
  log(`status bar: ready, ${Math.round((Date.now() - started) / 1000)} s after the setup notification`);

  step = 'the lightbulb comes by itself on an empty proof line (no Ctrl+.)';
  await goToLine(22); // the empty line of add_zero_nat
  await page.keyboard.press('End');
  await waitForLightbulbAt(22);
  await screenshotAround('vscode-lightbulb-empty-line.png', [lineNumber(20), lineNumber(23)]);
  await page.keyboard.press('Control+Period');
  await page.locator('.action-widget').locator('text=Try this: rfl (closes goal)').waitFor({ timeout: SUGGEST_TIMEOUT });
  await page.keyboard.press('Escape');
  log('lightbulb on the empty line, and the menu lists rfl');

  step = 'quick-fix menu at the sorry of monotone_step\'';
  await goToLine(32); // `  sorry` after `intro h n`
  await page.keyboard.press('End');
  // Like a user: the lightbulb shows that suggestions are there, then Ctrl+. opens the menu. (Pressing
  // Ctrl+. within VS Code's 250 ms lightbulb delay after moving lets that automatic request cancel the
  // explicit one, and VS Code says "No code actions available" while the server is still working.)
  await waitForLightbulbAt(32);
  await page.keyboard.press('Control+Period');
  const menu = page.locator('.action-widget');
  await menu.locator('text=Try this:').first().waitFor({ timeout: SUGGEST_TIMEOUT });
  const titles = (await menu.locator('.action-list-item, .monaco-list-row').allTextContents())
    .map((t) => t.replace(/\s+/g, ' ').trim())
    .filter((t) => t.startsWith('Try this:'));
  log(`quick fixes: ${JSON.stringify(titles)}`);
  check(titles.length > 0, 'no suggestions in the menu');
  for (const title of titles) {
    check(VERIFIED_AT_MONOTONE.has(title), `menu lists a suggestion Lean did not verify: ${title}`);
  }
  check(titles[0].endsWith('(closes goal)'), `the first suggestion should close the goal: ${titles[0]}`);
  await screenshotAround('vscode-quick-fix.png', [menu, lineNumber(30)]);

  step = 'apply the first quick fix';
  await page.keyboard.press('Enter');
  await waitForLine(32, (text) => /^ {2}exact h \(Nat\.le_succ [_n]\)$/.test(text));
  log(`line 32 after the quick fix: ${JSON.stringify(await lineText(32))}`);

  step = 'ghost text while typing after `exact`';
  await goToLine(27); // `  exact`
  await page.keyboard.press('End');
  await page.keyboard.type(' ');
  const ghost = page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text').first();
  await ghost.waitFor({ timeout: SUGGEST_TIMEOUT });
  const shown = visibleText(await ghost.textContent());
  log(`ghost text: ${JSON.stringify(shown)}`);
  check(/^h \(Nat\.le_succ [_n]\)$/.test(shown), `unexpected ghost text ${JSON.stringify(shown)}`);
  await screenshotAround('vscode-ghost-text.png', [ghost, lineNumber(25)]);

  step = 'Tab inserts the ghost text';
  await page.keyboard.press('Tab');
  await page.keyboard.press('Escape');
  await waitForLine(27, (text) => /^ {2}exact h \(Nat\.le_succ [_n]\)$/.test(text));
  log(`line 27 after Tab: ${JSON.stringify(await lineText(27))}`);

  step = 'automatic ghost text off: nothing while typing, the quick fixes still work';
  const settingsFile = env('WORKSPACE_SETTINGS');
  const settings = JSON.parse(readFileSync(settingsFile, 'utf8'));
  writeFileSync(settingsFile, JSON.stringify({ ...settings, 'llmstep.inlineSuggestions.automatic': false }, null, 2));
  await waitForSettingInUi('llmstep.inlineSuggestions.automatic', false);
  await goToLine(22); // the empty line of add_zero_nat
  await page.keyboard.press('End');
  await page.keyboard.type('r');
  await waitForLightbulbAt(22);
  await page.keyboard.press('Control+Period');
  await page.locator('.action-widget').locator('text=Try this: rfl (closes goal)').waitFor({ timeout: SUGGEST_TIMEOUT });
  await page.keyboard.press('Escape');
  // The server has answered for this text and line; an automatic request would be served from its
  // cache at once. Give it a moment to show up, and make sure it did not.
  await page.waitForTimeout(2_000);
  check(await ghost.count() === 0 || !(await ghost.isVisible()), 'ghost text shown although automatic is off');

  step = '"llmstep: Suggest Next Tactic Here" still shows ghost text and the menu';
  await runCommand('llmstep: Suggest Next Tactic Here');
  await ghost.waitFor({ timeout: SUGGEST_TIMEOUT });
  const explicit = visibleText(await ghost.textContent());
  log(`explicit ghost text: ${JSON.stringify(explicit)}`);
  check(explicit === 'fl', `expected the rest of "rfl" after the typed "r", got ${JSON.stringify(explicit)}`);
  await page.locator('.action-widget').locator('text=Try this: rfl (closes goal)').waitFor({ timeout: SUGGEST_TIMEOUT });
  await page.keyboard.press('Escape');

  step = 'Lean not found: a toast with the fix, the status bar says Lean error as plain text, then clears';
  const leanOk = settings['llmstep.leanCommand'];
  // codeActionWaitMs 1: automatic requests give up at once, for the Ctrl+. step after this one.
  const quick = { ...settings, 'llmstep.inlineSuggestions.automatic': false, 'llmstep.codeActionWaitMs': 1 };
  writeFileSync(settingsFile, JSON.stringify({ ...quick, 'llmstep.leanCommand': ['/nonexistent/lake', 'serve'] }, null, 2));
  await waitForStatus((label) => label === 'llmstep: ready', 30_000); // settings applied
  await goToLine(17); // two_eq_two's sorry: the lightbulb asks, the sidecar starts Lean
  await page.keyboard.press('End');
  const leanToast = page.locator('.notification-toast', { hasText: '/nonexistent/lake' });
  await leanToast.first().waitFor({ timeout: 30_000 });
  const leanMessage = visibleText(await leanToast.first().locator('.notification-list-item-message').textContent());
  log(`Lean toast: ${JSON.stringify(leanMessage)}`);
  const leanLabel = await waitForStatus((label) => label.startsWith('llmstep: Lean error'), 30_000);
  log(`status: ${JSON.stringify(leanLabel)}`);
  check(leanLabel.includes('/nonexistent/lake'), `the status should say what failed: ${leanLabel}`);
  check(!/llmstep: (error: )?llmstep:|\\[(`]|\.\. /.test(leanLabel), `not plain text: ${leanLabel}`);
  await page.screenshot({ path: path.join(OUT, 'vscode-lean-error.png') });
  writeFileSync(settingsFile, JSON.stringify({ ...quick, 'llmstep.leanCommand': leanOk }, null, 2));
  await waitForStatus((label) => label === 'llmstep: ready', 30_000);
  log('status back to ready once the Lean command is fixed');

  step = 'Ctrl+. while Lean is still checking waits for the verified result, not "No code actions"';
  await goToLine(16); // nothing computed on this line since the restart of Lean
  await goToLine(17);
  await page.keyboard.press('End');
  // Past VS Code's 250 ms lightbulb delay: its automatic request (answered "nothing yet" at once,
  // codeActionWaitMs 1) must not replace the explicit one. There is no UI event for it.
  await page.waitForTimeout(600);
  await page.keyboard.press('Control+Period');
  await page.locator('.action-widget').locator('text=Try this: rfl (closes goal)').waitFor({ timeout: SUGGEST_TIMEOUT });
  const noActions = page.locator('.monaco-editor-overlaymessage', { hasText: 'No code actions' });
  check(await noActions.count() === 0 || !(await noActions.first().isVisible()), '"No code actions available" shown');
  await screenshotAround('vscode-ctrl-dot-waits.png', [page.locator('.action-widget'), lineNumber(16)]);
  await page.keyboard.press('Escape');
  log('Ctrl+. on a line still being checked opened the menu with rfl');

  step = 'server log lines keep their level in the Output channel';
  const logText = readOutputLog();
  check(/\[info\] llmstep_lsp\.pipeline\.engine: suggest /.test(logText), 'no [info] suggest line from the server');
  check(!/\[error\] [^\n]*\bINFO\b/.test(logText) && !/\[error\] llmstep_lsp\.pipeline\.engine: suggest /.test(logText),
    'an INFO line of the server is tagged [error]');
  log('server INFO lines are [info] in the output channel');

  step = 'a Python without llmstep-lsp: an error that says how to fix it, and the log';
  const python = env('PYTHON_WITHOUT_LLMSTEP');
  writeFileSync(settingsFile, JSON.stringify({
    ...settings,
    'llmstep.inlineSuggestions.automatic': false,
    'llmstep.server.pythonPath': python,
    'llmstep.server.env': {},
  }, null, 2)); // a launch setting: the extension restarts the server
  const toast = page.locator('.notification-toast', { hasText: 'llmstep-lsp is not installed for' });
  await toast.waitFor({ timeout: 60_000 });
  const message = visibleText(await toast.locator('.notification-list-item-message').textContent());
  log(`error message: ${JSON.stringify(message)}`);
  check(message.includes(`not installed for ${python}: run`) && message.includes(`${python} -m pip install llmstep-lsp`),
    `the message should name the Python and the pip command: ${message}`);
  for (const button of ['Open Settings', 'Show Log']) {
    check(await toast.locator('.monaco-button', { hasText: button }).count() === 1, `no "${button}" button`);
  }
  await page.waitForFunction(
    () => [...document.querySelectorAll('.statusbar-item, .statusbar-item [aria-label]')].some((e) =>
      (e.getAttribute('aria-label') ?? '').startsWith('llmstep: error')),
    null, { timeout: 10_000 });
  await screenshotAround('vscode-not-installed.png', [toast]);

  step = '"Open Settings" leads where llmstep.server.pythonPath can be edited (Remote on code-server)';
  await toast.locator('.monaco-button', { hasText: 'Open Settings' }).click();
  const pythonSetting = page.locator('.settings-editor .setting-item-contents', { hasText: 'Python Path' });
  await pythonSetting.first().waitFor({ timeout: 30_000 });
  const tab = visibleText(await page.locator(
    '.settings-editor .settings-tabs-widget .checked, .settings-editor .settings-tabs-widget [aria-selected="true"]',
  ).first().textContent());
  log(`Open Settings showed the "${tab}" tab with llmstep.server.pythonPath`);
  // code-server is a remote host: machine-overridable settings live in the Remote tab, not User.
  check(tab.startsWith('Remote'), `expected the Remote settings tab, got "${tab}"`);
  await page.screenshot({ path: path.join(OUT, 'vscode-open-settings.png') });
  await page.keyboard.press('Control+W');

  step = 'Restart Server: the same error again, and Show Log opens the log';
  await runCommand('llmstep: Restart Server');
  await toast.waitFor({ timeout: 60_000 });
  await toast.locator('.monaco-button', { hasText: 'Show Log' }).click();
  await page.locator('.panel', { hasText: "No module named 'llmstep_lsp'" }).first().waitFor({ timeout: 15_000 });
  log('Show Log opened the llmstep output with the import error');
}

async function waitForStatus(predicate, timeout) {
  const deadline = Date.now() + timeout;
  let label = '';
  while (Date.now() < deadline) {
    label = await page.evaluate(() => [...document.querySelectorAll('.statusbar-item, .statusbar-item [aria-label]')]
      .map((e) => e.getAttribute('aria-label') ?? '').find((l) => l.startsWith('llmstep')) ?? '');
    if (predicate(label)) return label;
    await page.waitForTimeout(250);
  }
  throw new Error(`${step}: the status bar says ${JSON.stringify(label)}`);
}

/** The extension's output channel as VS Code logged it (code-server's logs folder). */
function readOutputLog() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/llmstep/.test(entry.name) && entry.name.endsWith('.log')) found.push(full);
    }
  };
  walk(env('VSCODE_LOGS'));
  check(found.length > 0, 'no llmstep output channel log');
  return found.map((file) => readFileSync(file, 'utf8')).join('\n');
}

function lineNumber(line) {
  return page.locator('.monaco-editor .line-numbers', { hasText: new RegExp(`^\\s*${line}\\s*$`) }).first();
}

/** Editor text as a user reads it (VS Code renders spaces as no-break spaces). */
function visibleText(text) {
  return (text ?? '').replace(/\u00a0/g, ' ').trim();
}

async function runQuickOpen(text) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(text);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first().waitFor();
  await page.keyboard.press('Enter');
}

async function runCommand(title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

async function goToLine(line) {
  await page.locator('.monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`:${line}`);
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    (expected) => [...document.querySelectorAll('.statusbar-item')].some((e) =>
      (e.textContent ?? '').includes(`Ln ${expected},`)),
    line, { timeout: 10_000 });
}

/** Waits for the lightbulb next to (1-based) `line`: VS Code draws it on the line, or just above or
 * below it where the line's own text leaves no room. */
async function waitForLightbulbAt(line) {
  await page.waitForFunction((wanted) => {
    const bulb = [...document.querySelectorAll('.monaco-editor .lightBulbWidget')]
      .find((e) => e.getBoundingClientRect().height > 0 && getComputedStyle(e).visibility !== 'hidden');
    const number = [...document.querySelectorAll('.monaco-editor .line-numbers')]
      .find((e) => e.textContent?.trim() === String(wanted));
    if (!bulb || !number) return false;
    const height = number.getBoundingClientRect().height;
    const offset = number.getBoundingClientRect().top - bulb.getBoundingClientRect().top;
    return Math.abs(offset) < height * 1.5;
  }, line, { timeout: SUGGEST_TIMEOUT });
}

/** The text of a (1-based) line as the editor renders it, ghost text excluded. */
async function lineText(line) {
  return page.evaluate((wanted) => {
    const lineHeight = document.querySelector('.monaco-editor .view-line')?.getBoundingClientRect().height ?? 0;
    const numbers = [...document.querySelectorAll('.monaco-editor .line-numbers')];
    const number = numbers.find((e) => e.textContent?.trim() === String(wanted));
    if (!number || !lineHeight) return null;
    const top = number.getBoundingClientRect().top;
    const view = [...document.querySelectorAll('.monaco-editor .view-line')]
      .find((e) => Math.abs(e.getBoundingClientRect().top - top) < lineHeight / 2);
    if (!view) return null;
    const clone = view.cloneNode(true);
    clone.querySelectorAll('.ghost-text-decoration, .ghost-text, .ghost-text-hidden').forEach((g) => g.remove());
    return (clone.textContent ?? '').replace(/\u00a0/g, ' ');
  }, line);
}

async function waitForLine(line, predicate, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let text = null;
  while (Date.now() < deadline) {
    text = await lineText(line);
    if (text !== null && predicate(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`${step}: line ${line} reads ${JSON.stringify(text)}`);
}

/** Waits until the Settings editor's search shows the setting with the given value (VS Code reloaded it). */
async function waitForSettingInUi(key, value) {
  await runCommand('Preferences: Open Workspace Settings');
  const search = page.locator('.settings-editor .suggest-input-container textarea, .settings-editor .search-container input').first();
  await search.waitFor({ timeout: 30_000 });
  await search.fill(key);
  const checkbox = page.locator('.settings-editor .setting-value-checkbox').first();
  await checkbox.waitFor({ timeout: 30_000 });
  await page.waitForFunction(
    (expected) => {
      const box = document.querySelector('.settings-editor .setting-value-checkbox');
      return box !== null && box.getAttribute('aria-checked') === String(expected);
    },
    value, { timeout: 30_000 });
  await page.keyboard.press('Control+W'); // close the Settings editor; Examples.lean is active again
  await page.waitForSelector('.tab.active >> text=Examples.lean', { timeout: 10_000 });
}

/** A small PNG of the region covering the given elements, with some editor context around them. */
async function screenshotAround(name, locators) {
  const boxes = [];
  for (const locator of locators) {
    const box = await locator.boundingBox();
    if (box) boxes.push(box);
  }
  const editor = await page.locator('.monaco-editor').first().boundingBox();
  check(boxes.length > 0 && editor !== null, `nothing to take a screenshot of for ${name}`);
  const left = editor.x;
  const right = Math.min(editor.x + editor.width, Math.max(left + 820, ...boxes.map((b) => b.x + b.width + 20)));
  const top = Math.max(editor.y, Math.min(...boxes.map((b) => b.y)) - 24);
  const bottom = Math.min(editor.y + editor.height, Math.max(...boxes.map((b) => b.y + b.height)) + 50);
  await page.screenshot({
    path: path.join(OUT, name),
    clip: { x: left, y: top, width: right - left, height: bottom - top },
  });
  log(`screenshot ${name}`);
}
