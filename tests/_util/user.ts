/**
 * Helpers for tests of the unprivileged path. `.ci/run` runs the suite as the non-root test
 * user (`imgtest`, with `/etc/subuid` and `/etc/subgid` ranges), so usually nothing needs to
 * switch users; when the suite runs as root, {@linkcode asTestUser} lets one test still run a
 * command as that user.
 *
 * @module
 */

/** The name of the non-root test user: `$IMG_TEST_USER`, or `imgtest`. */
export function testUser(): string {
  return Deno.env.get("IMG_TEST_USER") || "imgtest";
}

/** Reports whether the tests run as root (uid 0). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** The test user's uid and gid, or `undefined` if the user does not exist. */
export async function testUserIds(): Promise<{ uid: number; gid: number } | undefined> {
  const ids = async (flag: string) => {
    const out = await new Deno.Command("id", {
      args: [flag, testUser()],
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? Number(new TextDecoder().decode(out.stdout).trim()) : undefined;
  };
  const [uid, gid] = [await ids("-u"), await ids("-g")];
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/**
 * Creates a temporary directory that both the current user and the test user can use:
 * mode 0777, and owned by the test user when running as root.
 */
export async function makeSharedTempDir(prefix = "img-test-"): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o777);
  if (isRoot()) {
    const ids = await testUserIds();
    if (ids) await Deno.chown(dir, ids.uid, ids.gid);
  }
  return dir;
}

/**
 * Returns `cmd` prefixed to run as the test user (`runuser -u <user> --`) when the tests
 * run as root, or `cmd` unchanged when they already run unprivileged.
 */
export function asTestUser(cmd: string[]): string[] {
  return isRoot() ? ["runuser", "-u", testUser(), "--", ...cmd] : cmd;
}
