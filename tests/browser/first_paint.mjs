// The first paint of panel pages in headless Chromium, for the bench
// `cargo bench -p ferry --bench panel_first_paint` (issue 15: a server page's
// first paint under 200 ms with 1,000 servers in the read model). Not a test: it
// prints figures. The bench seeds the read model, then runs this spec with
// FERRY_TOKEN_CUSTOMER (the server's customer), FERRY_TOKEN_SUPPORT,
// FERRY_FIRST_PAINT_SERVER (its id) and FERRY_FIRST_PAINT_LOADS (loads a page).
//
// Each load is a fresh navigation (`page.goto`, the browser's cache kept as a
// returning visitor's is); its figures come from the page's own Performance
// timeline: `first-contentful-paint` (the first text or image painted, the
// browser's first paint of content), and the navigation's `responseStart` (first
// byte) and `responseEnd` (last byte of the HTML). Printed as
// `FIGURE <page> <measure> p50=<ms> p95=<ms> max=<ms> n=<loads>`.

/** The figures of the navigation that just happened, in ms since it started. */
async function timings(page) {
  // The paint entry is queued after the paint itself: wait for it, bounded.
  await page.waitForFunction(
    () => performance.getEntriesByName('first-contentful-paint').length > 0,
    null,
    { timeout: 10_000 },
  );
  return page.evaluate(() => {
    const [navigation] = performance.getEntriesByType('navigation');
    const [paint] = performance.getEntriesByName('first-contentful-paint');
    return {
      firstByte: navigation.responseStart,
      html: navigation.responseEnd,
      firstPaint: paint.startTime,
    };
  });
}

function percentile(sorted, p) {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

function report(ctx, label, samples) {
  for (const measure of ['firstByte', 'html', 'firstPaint']) {
    const sorted = samples.map((s) => s[measure]).sort((a, b) => a - b);
    const ms = (v) => v.toFixed(1);
    ctx.log(
      `FIGURE ${label} ${measure} p50=${ms(percentile(sorted, 50))} p95=${ms(percentile(sorted, 95))} ` +
        `max=${ms(sorted[sorted.length - 1])} n=${sorted.length}`,
    );
  }
}

async function measure(ctx, label, pathname, loads) {
  const samples = [];
  for (let i = 0; i < loads; i += 1) {
    const response = await ctx.goto(pathname);
    ctx.assert(response?.status() === 200, `${pathname} answers ${response?.status()}`);
    samples.push(await timings(ctx.page));
  }
  report(ctx, label, samples);
}

export async function run(ctx) {
  const server = ctx.env('FERRY_FIRST_PAINT_SERVER');
  const loads = Number(ctx.env('FERRY_FIRST_PAINT_LOADS'));
  ctx.assert(Number.isInteger(loads) && loads > 0, `FERRY_FIRST_PAINT_LOADS=${loads} is not a count`);

  await ctx.step("the customer's server page", async () => {
    await ctx.signIn(ctx.env('FERRY_TOKEN_CUSTOMER'));
    await ctx.expectPath('/panel/');
    await measure(ctx, 'server-page', `/panel/servers/${server}`, loads);
    await ctx.expectCount('ol.steps > li', 8);
    await ctx.signOut();
  });

  await ctx.step("support's console, first page and a search", async () => {
    await ctx.signIn(ctx.env('FERRY_TOKEN_SUPPORT'));
    await ctx.expectPath('/panel/');
    await measure(ctx, 'console', '/panel/console', loads);
    await measure(ctx, 'console-search', `/panel/console?q=${encodeURIComponent(server)}`, loads);
  });
}
