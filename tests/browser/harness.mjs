// The harness itself, against the tiny page that services/ferry/tests/browser.rs
// serves (a stand-in with the panel's sign-in contract and a list of steps):
// sign in with a wrong then a good token, click a button and read
// `aria-current`, switch to French, sign out; a screenshot after each step.
// With FERRY_HARNESS_FAIL=1 it fails on purpose in a step of its own, so that the
// test sees how the runner reports a failure.

export async function run(ctx) {
  await ctx.step('the sign-in page has the contract form', async () => {
    await ctx.goto('/panel/sign-in');
    await ctx.expectLang('en');
    await ctx.expectCount('form[action="/panel/sign-in"][method="post"]', 1);
    await ctx.expectCount('label[for="token"]', 1);
    await ctx.expectCount('input#token[name="token"][type="password"]', 1);
  });

  await ctx.step('a wrong token is refused with an alert', async () => {
    await ctx.signIn('not-a-token');
    await ctx.expectPath('/panel/sign-in');
    await ctx.expectText('[role="alert"]', /token/i);
  });

  await ctx.step('a good token signs in', async () => {
    await ctx.signIn(ctx.env('FERRY_TOKEN_CUSTOMER'));
    await ctx.expectPath('/panel/');
    await ctx.expectText('h1', 'Harness');
    ctx.assert((await ctx.currentIndex()) === 0, 'the first step is current after signing in');
  });

  await ctx.step('a click moves the current step', async () => {
    await ctx.click('button[data-action="next"]');
    await ctx.expectAttribute('ol.steps > li:nth-child(2)', 'aria-current', 'step');
    await ctx.expectCount('ol.steps > li:nth-child(1)[aria-current]', 0);
    const current = await ctx.currentIndex();
    ctx.assert(current === 1, `the second step is current after one click, not step ${current + 1}`);
  });

  if (process.env.FERRY_HARNESS_FAIL) {
    await ctx.step('a deliberate failure', async () => {
      await ctx.expectCount('#no-such-element', 1, { timeout: 500 });
    });
  }

  await ctx.step('lang=fr switches to French', async () => {
    await ctx.goto('/panel/?lang=fr');
    await ctx.expectLang('fr');
    await ctx.expectText('h1', 'Harness');
  });

  await ctx.step('signing out leads back to the sign-in page', async () => {
    await ctx.signOut();
    await ctx.expectPath('/panel/sign-in');
    await ctx.goto('/panel/');
    await ctx.expectPath('/panel/sign-in');
  });
}
