import assert from "node:assert/strict";
import { extraHostLines, parseExtraHost } from "./extra_hosts.ts";
import { hostsContent } from "./step_defaults.ts";

Deno.test("parseExtraHost: host:ip and host=ip, IPv6 and host-gateway", () => {
  assert.deepEqual(parseExtraHost("db:10.1.2.3"), { host: "db", ip: "10.1.2.3" });
  assert.deepEqual(parseExtraHost("db=10.1.2.3"), { host: "db", ip: "10.1.2.3" });
  assert.deepEqual(parseExtraHost("v6:fe80::1"), { host: "v6", ip: "fe80::1" });
  assert.deepEqual(parseExtraHost("v6=[::1]"), { host: "v6", ip: "::1" });
  assert.deepEqual(parseExtraHost("gw:host-gateway"), { host: "gw", ip: "host-gateway" });
  for (const bad of ["db", ":1.2.3.4", "db:", "db:example.com", "db:300.1.1.1"]) {
    assert.throws(() => parseExtraHost(bad), /Invalid --add-host "/, bad);
  }
});

Deno.test("hostsContent: BuildKit's entries, then the extra hosts with host-gateway resolved", () => {
  const hosts = [{ host: "db", ip: "10.1.2.3" }, { host: "gw", ip: "host-gateway" }];
  assert.equal(extraHostLines(hosts, "10.0.2.2"), "10.1.2.3\tdb\n10.0.2.2\tgw\n");
  assert.equal(
    hostsContent("buildkitsandbox", hosts, "10.0.2.2"),
    "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
      "10.1.2.3\tdb\n10.0.2.2\tgw\n",
  );
});
