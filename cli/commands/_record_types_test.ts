import { deepEqual } from "node:assert/strict";
import { RECORD_TYPES } from "@img/core/gc";
import { RECORD_TYPE_NAMES } from "./_record_types.ts";

Deno.test("the du and prune --filter help names core's record types, in its order", () => {
  deepEqual(RECORD_TYPE_NAMES, RECORD_TYPES);
});
