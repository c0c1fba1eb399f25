import assert from "node:assert/strict";
import { formatListing, renderTemplate } from "./format.ts";

const items = [
  { Repository: "app", Tag: "v1", ID: "0123456789ab" },
  { Repository: "busybox", Tag: "latest", ID: "ba9876543210" },
];
const columns: [string, string][] = [["REPOSITORY", "Repository"], ["TAG", "Tag"]];
const headers = { Repository: "REPOSITORY", Tag: "TAG", ID: "IMAGE ID" };

Deno.test("--format: table, json, table TEMPLATE, Go template", () => {
  assert.match(formatListing(undefined, items, columns, headers), /^REPOSITORY\s+TAG\napp\s+v1\n/);
  assert.deepEqual(
    formatListing("json", items, columns, headers).trimEnd().split("\n").map((l) => JSON.parse(l)),
    items,
  );
  assert.equal(
    formatListing("{{.Repository}}:{{ .Tag }}", items, columns, headers),
    "app:v1\nbusybox:latest\n",
  );
  assert.match(
    formatListing("table {{.ID}}\\t{{.Repository}}", items, columns, headers),
    /^IMAGE ID\s+REPOSITORY\n0123456789ab\s+app\n/,
  );
  assert.equal(renderTemplate("{{json .Tag}}", items[0]), '"v1"');
  assert.throws(
    () => formatListing("{{.Nope}}", items, columns, headers),
    /Invalid --format: the field \.Nope does not exist/,
  );
});

Deno.test("--format: a dotted path reaches nested fields, as docker version's", () => {
  const data = { Client: { Version: "0.1.0", Plugins: [{ Name: "oci" }] }, Server: null };
  assert.equal(renderTemplate("{{.Client.Version}}", data), "0.1.0");
  assert.equal(renderTemplate("{{json .Client.Plugins}}", data), '[{"Name":"oci"}]');
  assert.equal(renderTemplate("{{json .}}", data), JSON.stringify(data));
  assert.equal(renderTemplate("{{json .Server}}", data), "null");
  assert.throws(
    () => renderTemplate("{{.Client.Nope}}", data),
    /Invalid --format: the field \.Client\.Nope does not exist; use \.Client\.Version, \.Client\.Plugins/,
  );
  assert.throws(
    () => renderTemplate("{{.Client.Version.X}}", data),
    /the field \.Client\.Version\.X does not exist; use \.Client, \.Server/,
  );
});
