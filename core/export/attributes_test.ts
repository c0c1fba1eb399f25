import { deepEqual, equal, throws } from "node:assert/strict";
import * as z from "zod";
import { booleanAttribute, imageNamesAttribute, parseExporterAttributes } from "./attributes.ts";
import { ImgError } from "../errors.ts";

const schema = z.object({ dest: z.string().optional(), tar: booleanAttribute(true) });

Deno.test("parseExporterAttributes parses known keys and ignores type", () => {
  deepEqual(parseExporterAttributes({ type: "oci", dest: "a.tar" }, schema), {
    dest: "a.tar",
    tar: true,
  });
  equal(parseExporterAttributes({ tar: "false" }, schema).tar, false);
  equal(parseExporterAttributes({ tar: "" }, schema).tar, true, "a bare key means true");
});

Deno.test("parseExporterAttributes refuses unknown keys, listing the known ones", () => {
  throws(
    () => parseExporterAttributes({ dset: "a.tar" }, schema),
    (e) => e instanceof ImgError && e.message === 'Unknown attribute "dset": use dest=, tar=',
  );
  deepEqual(
    parseExporterAttributes({ "annotation.a": "b" }, schema, { prefixes: ["annotation."] }),
    { tar: true },
  );
  throws(
    () => parseExporterAttributes({ x: "1" }, z.object({})),
    /Unknown attribute "x": this exporter takes no attributes/,
  );
});

Deno.test("parseExporterAttributes names the key of a bad value", () => {
  throws(
    () => parseExporterAttributes({ tar: "yes" }, schema),
    (e) => e instanceof ImgError && e.message === 'Invalid value "yes" for tar=: use true or false',
  );
});

Deno.test("imageNamesAttribute normalizes names and falls back to the -t names", () => {
  deepEqual(imageNamesAttribute("app, example.com/a/b:v1,app", []), [
    "docker.io/library/app:latest",
    "example.com/a/b:v1",
  ]);
  deepEqual(imageNamesAttribute(undefined, ["app:v2"]), ["docker.io/library/app:v2"]);
  deepEqual(imageNamesAttribute("", ["app:v2"]), [], "name= given empty means no name");
  throws(() => imageNamesAttribute("UPPER", []), ImgError);
});
