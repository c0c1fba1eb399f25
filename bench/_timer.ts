/**
 * Times a command from inside the user's session: `deno run -A bench/_timer.ts CMD...` runs
 * CMD (standard input closed, its output passed through), then prints
 * `bench-timer: SECONDS s` on standard error and exits with CMD's code. The benchmarks run as
 * root and start img and buildah as the test user through `runuser`; timed from outside, each
 * build would carry runuser's own start (a PAM session, ~25 ms here), which a user who types
 * the command does not wait for and BuildKit's client, started directly, does not pay.
 *
 * @module
 */

const [program, ...args] = Deno.args;
const t0 = performance.now();
const { code } = await new Deno.Command(program, { args, stdin: "null" }).spawn().status;
console.error(`bench-timer: ${((performance.now() - t0) / 1000).toFixed(6)} s`);
Deno.exit(code);
