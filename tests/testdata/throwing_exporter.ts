/**
 * An exporter plugin that fails halfway through writing its file with a plain `Error`, as a
 * buggy third-party plugin would: img must report it as the plugin's error and leave no file.
 */
import { API_VERSION, ExportDestination, type ExporterPlugin } from "@img/core";

const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "throwing",
  version: "0.0.1",
  apiVersion: API_VERSION,
  create: () => ({
    resolve: (attrs) => {
      const dest = ExportDestination.resolve(attrs.dest);
      return {
        export: () =>
          dest.write(async (out) => {
            const writer = out.getWriter();
            await writer.write(new Uint8Array(4096).fill(1));
            throw new Error("disk on fire\n    at somewhere (internal.ts:1:1)");
          }),
      };
    },
  }),
};

export default plugin;
