/** Moderation policies: schema, `extends` resolution, decisions. Pure: no I/O. */
export * from "./types.js";
export * from "./errors.js";
export * from "./schema.js";
export * from "./resolve.js";
export * from "./decide.js";
export * from "./input.js";
export * from "./document.js";
