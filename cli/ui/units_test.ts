import { equal } from "node:assert/strict";
import { bytesSize, humanDuration, humanSize, parseSize, timeAgo } from "./units.ts";

Deno.test("bytesSize formats binary units with four significant digits, as go-units does", () => {
  equal(bytesSize(0), "0B");
  equal(bytesSize(1571), "1.534KiB");
  equal(bytesSize(1024), "1KiB");
  equal(bytesSize(2.5 * 1024 * 1024), "2.5MiB");
  equal(bytesSize(1023), "1023B");
  equal(bytesSize(5 * 1024 ** 3), "5GiB");
});

Deno.test("humanSize formats decimal units", () => {
  equal(humanSize(1000), "1kB");
  equal(humanSize(4_400_000), "4.4MB");
});

Deno.test("humanDuration follows go-units", () => {
  equal(humanDuration(500), "Less than a second");
  equal(humanDuration(1000), "1 second");
  equal(humanDuration(9000), "9 seconds");
  equal(humanDuration(61_000), "About a minute");
  equal(humanDuration(5 * 60_000), "5 minutes");
  equal(humanDuration(3600_000), "About an hour");
  equal(humanDuration(3 * 3600_000), "3 hours");
  equal(humanDuration(3 * 86400_000), "3 days");
  equal(timeAgo(new Date(0), new Date(9000)), "9 seconds ago");
});

Deno.test("parseSize reads docker-style sizes", () => {
  equal(parseSize("1024"), 1024);
  equal(parseSize("10GB"), 10 * 1024 ** 3);
  equal(parseSize("512MiB"), 512 * 1024 ** 2);
  equal(parseSize("1.5k"), 1536);
});
