/**
 * The zod that img's own schemas use: `zod/mini`, with English error messages.
 *
 * `zod/mini` has the same validation as `zod` (the same core) but its schemas are plain
 * objects: building one and parsing with it the first time costs a fraction of what it does
 * with `zod`'s classic API, whose every schema instance gets some forty methods, and whose
 * bundle is four times the size. img starts from nothing at every command, so the first use
 * is most of the use. Schemas of the two APIs mix (an exporter plugin may give a classic
 * one), and the messages are the classic API's: `zod/mini` has no locale until one is set.
 *
 * @module
 */
import { config } from "zod/mini";
import { en } from "zod/locales";

config(en());

export * from "zod/mini";
