import { equal, ok, rejects } from "node:assert/strict";
import { guardExporter, PluginError } from "./guarded.ts";
import { API_VERSION, type ExporterPlugin, type PluginContext } from "../plugin.ts";
import type { ExportContext, ExportResult } from "../exporter.ts";

const ctx: PluginContext = { stateDir: "/tmp", env: {}, debug: () => {} };
const result = {} as ExportResult;
const exportCtx = {} as ExportContext;

function plugin(fail: { create?: unknown; resolve?: unknown; export?: unknown }): ExporterPlugin {
  return {
    kind: "exporter",
    name: "flaky",
    version: "1.0.0",
    apiVersion: API_VERSION,
    create: () => {
      if (fail.create !== undefined) throw fail.create;
      return {
        resolve: () => {
          if (fail.resolve !== undefined) throw fail.resolve;
          return {
            export: () =>
              fail.export !== undefined ? Promise.reject(fail.export) : Promise.resolve({ a: "b" }),
          };
        },
      };
    },
  };
}

Deno.test("errors from create, resolve and export name the plugin and keep the cause", async () => {
  const boom = new Error("boom\n    at stack (x.ts:1:1)");
  await rejects(guardExporter(plugin({ create: boom }), ctx), (e) => {
    ok(e instanceof PluginError);
    equal(e.message, "exporter flaky: boom");
    equal(e.cause, boom);
    return true;
  });
  const resolving = await guardExporter(plugin({ resolve: "just a string" }), ctx);
  await rejects(
    Promise.resolve().then(() => resolving.resolve({})),
    (e) => e instanceof PluginError && e.message === "exporter flaky: just a string",
  );
  const exporting = await guardExporter(plugin({ export: new TypeError("x is undefined") }), ctx);
  const instance = await exporting.resolve({});
  await rejects(
    instance.export(result, exportCtx),
    (e) => e instanceof PluginError && e.message === "exporter flaky: x is undefined",
  );
});

Deno.test("a working exporter passes through unchanged", async () => {
  const instance = await (await guardExporter(plugin({}), ctx)).resolve({});
  equal((await instance.export(result, exportCtx)).a, "b");
});

Deno.test("saveImages is kept when the plugin has it, attributed when it fails, absent when not", async () => {
  const saving = (fail?: unknown): ExporterPlugin => ({
    kind: "exporter",
    name: "saver",
    version: "1.0.0",
    apiVersion: API_VERSION,
    create: () => ({
      resolve: () => ({ export: () => Promise.resolve({}) }),
      saveImages: (request) =>
        fail !== undefined
          ? Promise.reject(fail)
          : Promise.resolve({ count: String(request.images.length) }),
    }),
  });
  const ok1 = await guardExporter(saving(), ctx);
  equal((await ok1.saveImages!({ images: [] }, exportCtx)).count, "0");
  const failing = await guardExporter(saving(new Error("disk full")), ctx);
  await rejects(
    failing.saveImages!({ images: [] }, exportCtx),
    (e) => e instanceof PluginError && e.message === "exporter saver: disk full",
  );
  equal((await guardExporter(plugin({}), ctx)).saveImages, undefined);
});
