import assert from "node:assert/strict";
import {
  commandLine,
  fstabField,
  type SetupPlan,
  setupScript,
  shellQuote,
} from "./_setup_script.ts";

const TOOLS = {
  sh: "/bin/sh",
  unshare: "/usr/bin/unshare",
  setpriv: "/usr/bin/setpriv",
  mount: "/usr/bin/mount",
  mkdir: "/usr/bin/mkdir",
  env: "/usr/bin/env",
  hostname: "/usr/bin/hostname",
};

function plan(over: Partial<SetupPlan> = {}): SetupPlan {
  return {
    root: "/r",
    hostname: "h",
    network: "host",
    mounts: [],
    uid: 1000,
    gid: 50,
    groups: [50, 1000],
    cwd: "/w",
    args: ["sh", "-c", "echo 'it''s'"],
    env: ["PATH=/bin", "A=b c"],
    tools: TOOLS,
    ...over,
  };
}

Deno.test("fstabField and shellQuote escape what their readers would split on", () => {
  assert.equal(fstabField("/a b\tc\\d\ne"), "/a\\040b\\011c\\134d\\012e");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});

Deno.test("setupScript: the mounts in order, one mount -a, then the step as its user", () => {
  const script = setupScript(
    plan({
      mounts: [
        {
          target: "/r/proc",
          file: false,
          mount: { destination: "/proc", type: "proc", source: "proc", options: ["nosuid"] },
        },
        {
          target: "/r/etc/hosts",
          file: true,
          mount: {
            destination: "/etc/hosts",
            type: "bind",
            source: "/s/hosts",
            options: ["rbind", "ro"],
          },
          locked: ["nodev"],
        },
        {
          target: "/r/tmp",
          file: false,
          mount: { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: [] },
        },
        {
          // A file beneath the tmpfs: created once the tmpfs is mounted.
          target: "/r/tmp/f",
          file: true,
          mount: { destination: "/tmp/f", type: "bind", source: "/s/f", options: ["rbind", "rw"] },
        },
      ],
    }),
    "/state/fstab",
  );
  const lines = script.split("\n");
  const entries = lines.filter((l) => l.startsWith("printf '%s\\n' 'proc ") || l.includes("/s/"));
  assert.deepEqual(entries, [
    "printf '%s\\n' 'proc /r/proc proc nosuid,X-mount.mkdir 0 0' >> '/state/fstab'",
    "printf '%s\\n' '/s/hosts /r/etc/hosts none rbind,ro,nodev 0 0' >> '/state/fstab'",
    "printf '%s\\n' '/s/f /r/tmp/f none rbind,rw 0 0' >> '/state/fstab'",
  ]);
  const mountAll = "'/usr/bin/mount' -n -a -T '/state/fstab'";
  const tmpfs = lines.findIndex((l) => l.includes("'tmpfs /r/tmp tmpfs"));
  assert.equal(lines[tmpfs + 1], mountAll, "mounted before the file beneath it is made");
  assert.match(lines[tmpfs + 3], /\[ -e '\/r\/tmp\/f' \] \|\|/);
  assert.ok(lines.includes(`if [ -s '/state/fstab' ]; then ${mountAll}; fi`));
  assert.equal(
    lines.at(-2),
    "exec '/usr/bin/env' '-i' 'PATH=/bin' 'A=b c' '/usr/bin/setpriv' '--regid=50' '--groups=50,1000' " +
      "'--bounding-set=-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid," +
      "+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write' '--pdeathsig=KILL' '--' " +
      `'/usr/bin/unshare' '--root=/r' '--wd=/w' '--setuid=1000' '--' 'sh' '-c' 'echo '\\''it'\\'''\\''s'\\'''`,
  );
});

Deno.test("commandLine: new namespaces, and a network namespace only for none", () => {
  const host = commandLine(plan(), "/f");
  assert.deepEqual(host.slice(0, 12), [
    "/usr/bin/setpriv",
    "--pdeathsig=KILL",
    "--",
    "/usr/bin/unshare",
    "--mount",
    "--propagation=private",
    "--pid",
    "--fork",
    "--kill-child",
    "--uts",
    "--ipc",
    "--",
  ]);
  assert.ok(commandLine(plan({ network: "none" }), "/f").includes("--net"));
  assert.ok(!host.includes("--net"));
  // The default network: nsenter joins the slirp4netns namespace before unshare.
  const joined = commandLine(
    plan({ network: "join", netnsPath: "/proc/9/ns/net", tools: { ...TOOLS, nsenter: "/n" } }),
    "/f",
  );
  assert.deepEqual(joined.slice(3, 7), ["/n", "--net=/proc/9/ns/net", "--", "/usr/bin/unshare"]);
  assert.ok(!joined.includes("--net"));
  assert.throws(
    () => commandLine(plan({ network: "join", netnsPath: "/proc/9/ns/net" }), "/f"),
    /needs nsenter in PATH/,
  );
});

Deno.test("setupScript: --ulimit through prlimit, insecure without bounding set or masks", () => {
  const limited = setupScript(
    plan({
      nofile: 4096,
      ulimits: [{ name: "nofile", soft: 512, hard: 1024 }, { name: "core", soft: -1, hard: -1 }],
      tools: { ...TOOLS, prlimit: "/p" },
    }),
    "/f",
  );
  assert.match(
    limited,
    /'\/p' '--nofile=512:1024' '--core=unlimited:unlimited' '--' '\/usr\/bin\/setpriv'/,
  );
  assert.ok(!limited.includes("ulimit -n 4096"), "the step's nofile replaces the default");
  assert.ok(setupScript(plan({ nofile: 4096 }), "/f").includes("ulimit -n 4096"));
  assert.throws(
    () => setupScript(plan({ ulimits: [{ name: "core", soft: 0, hard: 0 }] }), "/f"),
    /needs prlimit in PATH/,
  );
  const sandbox = setupScript(plan(), "/f");
  const insecure = setupScript(plan({ insecure: true }), "/f");
  assert.ok(sandbox.includes("--bounding-set=-all,"));
  assert.ok(!insecure.includes("--bounding-set"));
  assert.ok(sandbox.includes("/r/proc/keys") && !insecure.includes("/r/proc/keys"));
});
