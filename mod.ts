/**
 * img as a library: the public API of `@img/core`, for embedders and plugin authors.
 *
 * @module
 */
export * from "@img/core";
