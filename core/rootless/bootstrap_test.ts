import assert from "node:assert/strict";
import { ImgError } from "../errors.ts";
import {
  inUserNamespace,
  isInitialIdMap,
  lifetimeSupport,
  NAMESPACE_INIT,
  parseIdMap,
  ROOTLESS_CHILD_ENV,
  rootlessPlan,
  selfCommand,
  unshareArgs,
} from "./bootstrap.ts";

const BOOTSTRAP_URL = new URL("./bootstrap.ts", import.meta.url).href;

Deno.test("parseIdMap reads /proc/<pid>/uid_map lines", () => {
  const map = parseIdMap("         0       1001          1\n         1     100000      65535\n");
  assert.deepEqual(map, [
    { inside: 0, outside: 1001, count: 1 },
    { inside: 1, outside: 100000, count: 65535 },
  ]);
  assert.equal(isInitialIdMap(map), false);
  assert.equal(isInitialIdMap(parseIdMap("         0          0 4294967295\n")), true);
});

Deno.test("inUserNamespace needs both the env var and a non-identity uid map", () => {
  const hostMap = parseIdMap(Deno.readTextFileSync("/proc/self/uid_map"));
  const before = Deno.env.get(ROOTLESS_CHILD_ENV);
  try {
    Deno.env.delete(ROOTLESS_CHILD_ENV);
    assert.equal(inUserNamespace(), false);
    Deno.env.set(ROOTLESS_CHILD_ENV, "1");
    // The test runs in the host namespace: a leaked env var alone is not trusted.
    assert.equal(inUserNamespace(), !isInitialIdMap(hostMap));
  } finally {
    if (before === undefined) Deno.env.delete(ROOTLESS_CHILD_ENV);
    else Deno.env.set(ROOTLESS_CHILD_ENV, before);
  }
});

Deno.test("selfCommand re-runs a compiled binary with its arguments", () => {
  assert.deepEqual(
    selfCommand(["/opt/img", "build", "."], "file:///tmp/deno-compile-img/cli/main.ts", [
      "build",
      ".",
    ]),
    [Deno.execPath(), "build", "."],
  );
});

Deno.test("selfCommand keeps the deno flags of the command line", () => {
  assert.deepEqual(
    selfCommand(
      ["deno", "run", "-A", "--config", "/src/deno.json", "cli/main.ts", "build", "-t", "x", "."],
      "file:///src/cli/main.ts",
      ["build", "-t", "x", "."],
    ),
    [
      Deno.execPath(),
      "run",
      "-A",
      "--config",
      "/src/deno.json",
      "cli/main.ts",
      "build",
      "-t",
      "x",
      ".",
    ],
  );
  // A command line that does not end with the arguments is not trusted.
  assert.deepEqual(
    selfCommand(["deno", "run", "other.ts"], "https://example.com/img/main.ts", ["ls"]),
    [Deno.execPath(), "run", "-A", "https://example.com/img/main.ts", "ls"],
  );
  assert.deepEqual(
    selfCommand(null, "file:///src/cli/main.ts", []),
    [Deno.execPath(), "run", "-A", "file:///src/cli/main.ts"],
  );
});

Deno.test("selfCommand of a real script reproduces its own invocation", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-self-test-" });
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, "{}");
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { selfCommand } from ${JSON.stringify(BOOTSTRAP_URL)};
       console.log(JSON.stringify(selfCommand()));`,
    );
    const args = ["run", "-A", "--config", `${dir}/deno.json`, "main.ts", "a b", "--x"];
    const out = await new Deno.Command(Deno.execPath(), { args, cwd: dir }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), [Deno.execPath(), ...args]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unshareArgs without a PID namespace executes the command in place", () => {
  assert.deepEqual(unshareArgs("map-auto", ["/bin/deno", "run", "x.ts"]), [
    "--user",
    "--map-auto",
    "--map-root-user",
    "--mount",
    "--propagation",
    "private",
    "--",
    "/bin/deno",
    "run",
    "x.ts",
  ]);
  assert.deepEqual(unshareArgs("single", ["img"]), [
    "--user",
    "--map-root-user",
    "--mount",
    "--propagation",
    "private",
    "--",
    "img",
  ]);
});

Deno.test("unshareArgs with a PID namespace runs the command under a sh init", () => {
  assert.deepEqual(unshareArgs("map-auto", ["/bin/deno", "run", "x.ts"], true), [
    "--user",
    "--map-auto",
    "--map-root-user",
    "--mount",
    "--propagation",
    "private",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount-proc",
    "--",
    "/bin/sh",
    "-c",
    NAMESPACE_INIT,
    "sh",
    "/bin/deno",
    "run",
    "x.ts",
  ]);
});

Deno.test("the namespace's init passes the arguments and the exit status through", async () => {
  const run = async (...command: string[]) =>
    await new Deno.Command("/bin/sh", {
      args: ["-c", NAMESPACE_INIT, "sh", ...command],
      stdout: "piped",
    }).output();
  const args = await run("printf", "%s|", "a b", "", "$HOME");
  assert.equal(new TextDecoder().decode(args.stdout), "a b||$HOME|");
  assert.equal((await run("sh", "-c", "exit 7")).code, 7);
  // Killed by a signal: 128+n, as a shell reports it.
  assert.equal((await run("sh", "-c", 'kill -TERM "$$"')).code, 143);
});

Deno.test("lifetimeSupport reads what unshare and setpriv can do", async () => {
  const old = await lifetimeSupport("unshare", {
    findExecutable: () => null,
    unshareHelp: () => Promise.resolve(" -p, --pid[=<file>]\n -f, --fork\n"),
  });
  assert.deepEqual(old, { pidNamespace: false, setpriv: null });
  const here = await lifetimeSupport("unshare");
  const unshareHelp = new TextDecoder().decode(
    (await new Deno.Command("unshare", { args: ["--help"] }).output()).stdout,
  );
  assert.equal(here.pidNamespace, unshareHelp.includes("--kill-child"));
  if (here.setpriv) assert.match(here.setpriv, /\/setpriv$/);
});

Deno.test("an invalid IMG_ROOTLESS_METHOD is a one-line ImgError", async () => {
  Deno.env.set("IMG_ROOTLESS_METHOD", "magic");
  try {
    await assert.rejects(
      rootlessPlan(),
      new ImgError('Invalid IMG_ROOTLESS_METHOD "magic": use map-auto, newuidmap or single'),
    );
  } finally {
    Deno.env.delete("IMG_ROOTLESS_METHOD");
  }
});

Deno.test({
  name: "ensureRootless as root runs in place and says so",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "img-root-test-" });
    try {
      await Deno.writeTextFile(
        `${dir}/main.ts`,
        `import { ensureRootless } from ${JSON.stringify(BOOTSTRAP_URL)};
         const pid = Deno.pid;
         await ensureRootless({ debug: (m) => console.log(m) });
         console.log(pid === Deno.pid, Deno.uid(), Deno.env.get("IMG_ROOTLESS_CHILD") ?? "unset");`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${dir}/main.ts`],
        env: { IMG_ROOTLESS_CHILD: "" },
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.equal(
        new TextDecoder().decode(out.stdout),
        "rootless: running as root, no user namespace needed\ntrue 0 \n",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
