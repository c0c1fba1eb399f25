/** An exporter plugin written for a plugin API this img does not implement (99). */
export default {
  kind: "exporter",
  name: "future",
  version: "2.0.0",
  apiVersion: 99,
  description: "Needs a newer img",
  create: () => ({ resolve: () => ({ export: () => Promise.resolve({}) }) }),
};
