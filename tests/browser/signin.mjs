// Signing in to the panel that `ferry up` serves at /panel (issue 15), on the
// example fleet (examples/fleet.yaml): the sign-in form, a wrong token refused
// with an alert, a customer's token opening their servers and nothing of another
// customer's (c-77's srv-0077, "atelier"), French, sign-out, support's console.
// Run by services/ferry/tests/browser.rs, which gives FERRY_TOKEN_CUSTOMER
// (customer:c-42) and FERRY_TOKEN_SUPPORT.

const SIGN_IN_FORM = 'form[action="/panel/sign-in"][method="post" i]';

/** The page's text. */
const bodyText = (ctx) => ctx.page.locator('body').innerText();

export async function run(ctx) {
  let englishLabel;
  await ctx.step('the sign-in page has a labelled token field', async () => {
    await ctx.goto('/panel/sign-in');
    await ctx.expectLang('en');
    await ctx.expectCount(SIGN_IN_FORM, 1);
    englishLabel = await ctx.expectText('label[for="token"]', /\S/);
    await ctx.expectCount(`${SIGN_IN_FORM} input#token[name="token"][type="password"]`, 1);
    await ctx.expect(
      'a submit button in the form',
      () => ctx.page.locator(`${SIGN_IN_FORM} button[type="submit"], ${SIGN_IN_FORM} button:not([type])`).count(),
      (n) => n >= 1,
    );
  });

  await ctx.step('the panel asks to sign in first', async () => {
    await ctx.goto('/panel/');
    await ctx.expectCount(SIGN_IN_FORM, 1);
    await ctx.expectCount('ol.steps', 0);
  });

  await ctx.step('a wrong token is refused with an alert', async () => {
    await ctx.signIn('not-a-token');
    await ctx.expectPath('/panel/sign-in');
    await ctx.expectText('[role="alert"]', /\S/);
    await ctx.expectCount(`${SIGN_IN_FORM} input#token`, 1);
  });

  let customerHeading;
  await ctx.step("a customer's token opens their servers", async () => {
    await ctx.signIn(ctx.env('FERRY_TOKEN_CUSTOMER'));
    await ctx.expectPath('/panel/');
    await ctx.expectCount('[role="alert"]', 0);
    customerHeading = await ctx.expectText('h1', /\S/);
    await ctx.expect('the page to name srv-0042', () => bodyText(ctx), (t) => /srv-0042|bakery\.hosting\.example/.test(t));
    const text = await bodyText(ctx);
    ctx.assert(!/srv-0077|atelier/.test(text), `c-42's servers page names c-77's server:\n${text}`);
  });

  await ctx.step("another customer's server is refused", async () => {
    const response = await ctx.goto('/panel/servers/srv-0077');
    const status = response?.status();
    ctx.assert(status === 403 || status === 404, `/panel/servers/srv-0077 answers ${status}, not 403 or 404`);
    await ctx.expectText('body', /\S/);
    await ctx.expectCount('ol.steps', 0);
    await ctx.expectCount('tr[data-account]', 0);
    const text = await bodyText(ctx);
    ctx.assert(!/atelier|acc-2001/.test(text), `the refusal shows srv-0077's details:\n${text}`);
  });

  await ctx.step('lang=fr switches to French', async () => {
    await ctx.goto('/panel/?lang=fr');
    await ctx.expectLang('fr');
    const heading = await ctx.expectText('h1', /\S/);
    ctx.assert(heading !== customerHeading, `the heading is not translated: "${heading}"`);
  });

  await ctx.step('signing out ends the session', async () => {
    await ctx.goto('/panel/?lang=en');
    await ctx.signOut();
    await ctx.expectCount(SIGN_IN_FORM, 1);
    await ctx.goto('/panel/servers/srv-0042');
    await ctx.expectCount(SIGN_IN_FORM, 1);
    await ctx.expectCount('ol.steps', 0);
    await ctx.expectCount('tr[data-account]', 0);
  });

  await ctx.step("support's token opens the support console", async () => {
    await ctx.signIn(ctx.env('FERRY_TOKEN_SUPPORT'), { lang: 'en' });
    await ctx.expectPath('/panel/');
    const heading = await ctx.expectText('h1', /\S/);
    ctx.assert(heading !== customerHeading, `support's heading is the customer's: "${heading}"`);
    await ctx.signOut();
    await ctx.expectCount(SIGN_IN_FORM, 1);
  });

  await ctx.step('the sign-in page in French', async () => {
    await ctx.goto('/panel/sign-in?lang=fr');
    await ctx.expectLang('fr');
    const label = await ctx.expectText('label[for="token"]', /\S/);
    ctx.assert(label !== englishLabel, `the token's label is not translated: "${label}"`);
  });
}
