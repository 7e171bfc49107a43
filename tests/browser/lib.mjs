// The browser tests' library: headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core: no browser of its own is downloaded), a page on the
// panel at FERRY_PANEL_URL, the panel's sign-in and sign-out, screenshots named
// by step, and assertions that wait for the page and fail with what they saw.
//
// A spec is an ES module exporting `async function run(ctx)`, where ctx is a
// Context below; `node tests/browser/run.mjs <spec.mjs>` runs one
// (scripts/browser-setup installs what it needs).
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** axe-core's browser bundle (tests/browser/package-lock.json pins it). */
const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** The Chromium driven: Debian's, unless FERRY_CHROMIUM names another. */
export const CHROMIUM = process.env.FERRY_CHROMIUM || '/usr/bin/chromium';

/** How long an assertion waits for the page to show what it expects. */
export const EXPECT_TIMEOUT_MS = Number(process.env.FERRY_BROWSER_EXPECT_MS || 10_000);

/** A failed expectation: its message says what was expected and what was seen. */
export class AssertionFailure extends Error {
  constructor(message) {
    super(message);
    this.name = 'AssertionFailure';
  }
}

/**
 * Where screenshots go: FERRY_BROWSER_ARTIFACTS (relative to the current
 * directory), else target/browser-artifacts of the repository.
 */
export function artifactsRoot() {
  const given = process.env.FERRY_BROWSER_ARTIFACTS;
  return given ? path.resolve(given) : path.join(ROOT, 'target', 'browser-artifacts');
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Headless Chromium: without the sandbox when root (Chromium refuses it then),
 * and without the background connections (updates, sync, QUIC) that a machine
 * with no network answers with refusals.
 */
export async function launch() {
  const args = [
    '--disable-gpu',
    '--disable-quic',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  const sandbox = !isRoot() && process.env.FERRY_CHROMIUM_SANDBOX !== '0';
  if (!sandbox) args.push('--no-sandbox');
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: sandbox,
      args,
      timeout: 30_000,
    });
  } catch (e) {
    throw new Error(
      `cannot start ${CHROMIUM} (run scripts/browser-setup to install it): ${e.message}`,
    );
  }
}

/** A file name for a step: lower case, words joined by dashes. */
export function slug(text) {
  return (
    String(text)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'page'
  );
}

/** What a spec is given: the page and the helpers. */
export class Context {
  /**
   * @param {object} o
   * @param {import('playwright-core').Browser} o.browser
   * @param {string} o.baseURL the panel's origin (FERRY_PANEL_URL)
   * @param {string} o.artifacts this spec's screenshot directory (emptied first)
   * @param {(line: string) => void} [o.log]
   */
  static async open({ browser, baseURL, artifacts, log = console.log }) {
    rmSync(artifacts, { recursive: true, force: true });
    mkdirSync(artifacts, { recursive: true });
    const context = await browser.newContext({
      baseURL,
      locale: 'en-US',
      viewport: { width: 1280, height: 800 },
    });
    context.setDefaultTimeout(EXPECT_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(30_000);
    const page = await context.newPage();
    return new Context({ context, page, baseURL, artifacts, log });
  }

  constructor({ context, page, baseURL, artifacts, log }) {
    /** The browser context (cookies: one signed-in person). */
    this.context = context;
    /** The page (playwright-core's Page). */
    this.page = page;
    this.baseURL = baseURL;
    this.artifacts = artifacts;
    this.log = log;
    /** The step running now (null between steps). */
    this.currentStep = null;
    /** Steps passed, in order. */
    this.passed = [];
    /** The page's console errors and uncaught exceptions, for a failure's report. */
    this.pageErrors = [];
    this.shots = 0;
    page.on('console', (m) => {
      if (m.type() === 'error') this.pageErrors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.pageErrors.push(`uncaught: ${e.message}`));
    page.on('response', (response) => {
      if (response.status() >= 400) this.pageErrors.push(`${response.status()} for ${response.url()}`);
    });
    /** The status of the page's last document (a navigation's answer), for a failure's report. */
    this.lastStatus = null;
    page.on('response', (response) => {
      if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) {
        this.lastStatus = `${response.status()} ${response.statusText()}`.trim();
      }
    });
    /** The confirmations the page asked (`confirm()`), each accepted: a spec clicks to act. */
    this.dialogs = [];
    page.on('dialog', (dialog) => {
      this.dialogs.push(dialog.message());
      dialog.accept().catch(() => {});
    });
  }

  /** An environment variable the test gives the spec (a token, say); fails when unset. */
  env(name) {
    const value = process.env[name];
    if (!value) {
      throw new AssertionFailure(`${name} is not set: the Rust test that runs this spec gives it`);
    }
    return value;
  }

  /** The absolute URL of a path on the panel's server. */
  url(pathname) {
    return new URL(pathname, this.baseURL).href;
  }

  /** The path (and query) the page is at. */
  path() {
    const u = new URL(this.page.url());
    return u.pathname + u.search;
  }

  /**
   * One step of the spec: runs `fn`, then takes a full-page screenshot named by
   * the step. A failure inside is reported with this step's name.
   */
  async step(name, fn) {
    this.currentStep = name;
    const started = Date.now();
    await fn();
    await this.screenshot(name);
    this.passed.push(name);
    this.log(`  ok   ${this.passed.length}. ${name} (${Date.now() - started} ms)`);
    this.currentStep = null;
  }

  /** A full-page screenshot, `NN-<name>.png` in the spec's directory; returns its path. */
  async screenshot(name = this.currentStep ?? 'page') {
    this.shots += 1;
    const file = path.join(this.artifacts, `${String(this.shots).padStart(2, '0')}-${slug(name)}.png`);
    await this.page.screenshot({ path: file, fullPage: true, timeout: 15_000 });
    return file;
  }

  /** Opens a path of the panel's server; returns the response (its status, say). */
  async goto(pathname) {
    return this.page.goto(this.url(pathname), { waitUntil: 'load' });
  }

  /**
   * Clicks what `selector` finds (exactly one element) and waits for the page
   * it loads, if it loads one (a form's submit button, a link).
   */
  async click(selector) {
    const target = this.page.locator(selector);
    await this.expectCount(selector, 1);
    await target.click();
    await this.page.waitForLoadState('load');
  }

  /**
   * Signs in on the panel's sign-in page with `token` (the panel's contract:
   * `form[action="/panel/sign-in"][method="post"]`, `input#token`, a submit
   * button); `lang` adds `?lang=`. Waits for the answer's page; whether it
   * signed in is the spec's to check (`/panel/`, or `[role="alert"]`).
   */
  async signIn(token, { lang } = {}) {
    const pathname = `/panel/sign-in${lang ? `?lang=${encodeURIComponent(lang)}` : ''}`;
    const response = await this.goto(pathname);
    if (!response?.ok()) {
      throw new AssertionFailure(`GET ${pathname} answers ${response?.status()}, not the sign-in page`);
    }
    const form = 'form[action="/panel/sign-in"][method="post" i]';
    await this.expectCount(form, 1);
    await this.page.locator(`${form} #token`).fill(token);
    await this.click(`${form} button[type="submit"], ${form} button:not([type]), ${form} input[type="submit"]`);
  }

  /**
   * Clicks the panel's action `name` (`button[data-action="<name>"]`, in a form),
   * inside `within` if given (`tr[data-account="acc-1207"]`), and waits for the
   * page it loads, if any.
   */
  async action(name, within = '') {
    await this.click(`${within} button[data-action="${name}"]`.trim());
  }

  /** How many buttons of the action `name` the page offers (inside `within`). */
  async offered(name, within = '') {
    return this.page.locator(`${within} button[data-action="${name}"]`.trim()).count();
  }

  /**
   * An irreversible action: clicks `name` (inside `within`), expects the panel's
   * confirmation page (the warning as an alert, one `button[data-confirm]` for the
   * same action), fills its reason if asked, and confirms.
   */
  async confirmAction(name, within = '', { reason } = {}) {
    await this.action(name, within);
    const confirm = `button[data-action="${name}"][data-confirm]`;
    await this.expectCount(confirm, 1);
    await this.expectCount('[role="alert"]', 1);
    if (reason !== undefined) await this.page.locator('#reason').fill(reason);
    await this.click(confirm);
  }

  /**
   * Asks ferry's JSON API (same origin as the panel) as the holder of `token`:
   * for what only support or the system does (a reinstallation). Returns the
   * answer's JSON; fails with the API's reason unless it succeeded.
   */
  async api(method, pathname, token, body) {
    const headers = { authorization: `Bearer ${token}`, 'idempotency-key': randomUUID() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(this.url(pathname), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new AssertionFailure(`${method} ${pathname} answers ${response.status}: ${text}`);
    }
    return text ? JSON.parse(text) : null;
  }

  /**
   * Runs axe-core on the page as it is now and fails on any serious or critical
   * violation, naming each rule and the elements it found. axe is evaluated
   * through the driver, as the panel's Content-Security-Policy (rightly) refuses
   * an injected script.
   */
  async expectAccessible(what = this.path()) {
    await this.page.evaluate(readFileSync(AXE_SOURCE, 'utf8'));
    const violations = await this.page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const results = await axe.run(document, { resultTypes: ['violations'] });
      return results.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
      }));
    });
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    for (const v of violations.filter((v) => !serious.includes(v))) {
      this.log(`       axe (${v.impact}) on ${what}: ${v.id}: ${v.help}`);
    }
    this.assert(
      serious.length === 0,
      `accessibility of ${what}: ${serious
        .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(', ')}`)
        .join('; ')}`,
    );
  }

  /**
   * Narrows the viewport to `width` px (a phone), takes a screenshot, fails if
   * the page scrolls sideways (naming what sticks out), and gives the viewport
   * back.
   */
  async expectNoHorizontalScroll(width = 375, name = `${width} px wide`) {
    const before = this.page.viewportSize();
    await this.page.setViewportSize({ width, height: 800 });
    try {
      await this.screenshot(name);
      await this.expect(
        `no horizontal scroll at ${width} px`,
        () =>
          this.page.evaluate(() => {
            // What sticks out: boxes past the right edge, or blocks whose own
            // content (an unbreakable word) is wider than they are.
            const wide = (e) =>
              e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 ||
              (getComputedStyle(e).display !== 'inline' && e.scrollWidth > e.clientWidth + 1);
            const overflowing = [...document.querySelectorAll('body *')]
              .filter((e) => wide(e) && ![...e.children].some(wide))
              .slice(0, 3)
              .map((e) => `${e.tagName.toLowerCase()}${e.className ? `.${e.className}` : ''}: ${e.textContent.trim().slice(0, 40)}`);
            return {
              scroll: document.documentElement.scrollWidth,
              client: document.documentElement.clientWidth,
              overflowing,
            };
          }),
        (seen) => seen.scroll <= seen.client,
      );
    } finally {
      if (before) await this.page.setViewportSize(before);
    }
  }

  /**
   * Presses Tab until the element `selector` finds has the keyboard focus (at
   * most `tabs` times), checks the focus is drawn (an outline), then presses
   * Enter on it: an action done with the keyboard only.
   */
  async pressByKeyboard(selector, { tabs = 60 } = {}) {
    await this.expectCount(selector, 1);
    const target = this.page.locator(selector);
    for (let i = 0; i < tabs; i += 1) {
      await this.page.keyboard.press('Tab');
      if (await target.evaluate((e) => e === document.activeElement)) {
        const outline = await target.evaluate((e) => getComputedStyle(e).outlineStyle);
        this.assert(outline !== 'none', `${selector} has the focus but no visible outline`);
        await this.page.keyboard.press('Enter');
        await this.page.waitForLoadState('load');
        return;
      }
    }
    throw new AssertionFailure(`${selector} not reached after ${tabs} presses of Tab`);
  }

  /** Signs out with the page's `form[action="/panel/sign-out"]`. */
  async signOut() {
    const form = 'form[action="/panel/sign-out"]';
    await this.click(`${form} button[type="submit"], ${form} button:not([type]), ${form} input[type="submit"]`);
  }

  // ------------------------------------------------------------- assertions

  /** Fails at once with `message` unless `condition` holds. */
  assert(condition, message) {
    if (!condition) throw new AssertionFailure(message);
  }

  /**
   * Waits until `probe()` gives a value that `ok` accepts (the page may still
   * be loading or swapping), up to `timeout` ms; fails with `what` and the last
   * value seen. Returns the accepted value.
   */
  async expect(what, probe, ok, { timeout = EXPECT_TIMEOUT_MS } = {}) {
    const deadline = Date.now() + timeout;
    let seen;
    for (;;) {
      try {
        seen = await probe();
        if (ok(seen)) return seen;
      } catch (e) {
        // The page navigated under the probe: look again.
        seen = `(${e.message.split('\n')[0]})`;
      }
      if (Date.now() >= deadline) {
        throw new AssertionFailure(
          `expected ${what}; after ${timeout} ms it is ${JSON.stringify(seen)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until `selector` matches exactly `n` elements. */
  async expectCount(selector, n, options) {
    return this.expect(
      `${n} element(s) matching ${selector}`,
      () => this.page.locator(selector).count(),
      (count) => count === n,
      options,
    );
  }

  /** Waits until the element `selector` finds has attribute `name` equal to `value`. */
  async expectAttribute(selector, name, value, options) {
    return this.expect(
      `${selector} to have ${name}="${value}"`,
      async () => {
        const found = this.page.locator(selector);
        const count = await found.count();
        if (count !== 1) return `${count} elements match`;
        return found.getAttribute(name);
      },
      (seen) => seen === value,
      options,
    );
  }

  /**
   * Waits until the text of the element `selector` finds matches `pattern` (a
   * RegExp, or a string it must contain); returns the text.
   */
  async expectText(selector, pattern, options) {
    const matches = (text) =>
      typeof text === 'string' &&
      (pattern instanceof RegExp ? pattern.test(text) : text.includes(pattern));
    return this.expect(
      `the text of ${selector} to match ${pattern}`,
      async () => {
        const found = this.page.locator(selector);
        const count = await found.count();
        if (count === 0) return '(no element)';
        return (await found.first().innerText()).trim();
      },
      matches,
      options,
    );
  }

  /** Waits until the page's path (without the query) is `pathname`. */
  async expectPath(pathname, options) {
    return this.expect(
      `to be at ${pathname}`,
      async () => new URL(this.page.url()).pathname,
      (seen) => seen === pathname,
      options,
    );
  }

  /** Waits until `<html lang>` is `lang`. */
  async expectLang(lang, options) {
    return this.expectAttribute('html', 'lang', lang, options);
  }

  /**
   * The index (from 0) of the one `li[aria-current="step"]` among `list > li`;
   * fails unless exactly one is current.
   */
  async currentIndex(list = 'ol.steps') {
    await this.expectCount(`${list} > li[aria-current="step"]`, 1);
    return this.page
      .locator(`${list} > li`)
      .evaluateAll((items) => items.findIndex((li) => li.getAttribute('aria-current') === 'step'));
  }

  /** Waits until step `n` (from 1) of `list > li` is the one current step. */
  async expectCurrentStep(n, list = 'ol.steps', options = undefined) {
    return this.expect(
      `step ${n} to be the one li[aria-current="step"] of ${list}`,
      () =>
        this.page
          .locator(`${list} > li`)
          .evaluateAll((items) =>
            items.flatMap((li, i) => (li.getAttribute('aria-current') === 'step' ? [`step ${i + 1}`] : [])).join(', ') ||
            'no current step',
          ),
      (seen) => seen === `step ${n}`,
      options,
    );
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}
